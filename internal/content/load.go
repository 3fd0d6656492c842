package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// LoadOptions are the options of LoadPath. The zero value gives the
// defaults.
type LoadOptions struct {
	// MaxBytes is the size limit of one file; larger files are reported
	// with ErrTooLarge. Default DefaultMaxDocumentBytes.
	MaxBytes int
	// IncludeHidden also walks directories whose name starts with a dot.
	// Default false: .git, .github and the like are skipped (and listed in
	// Loaded.Skipped). Files whose name starts with a dot are loaded like
	// any other when their extension is loaded (tldr's page for "." is
	// "..md"), whatever this says.
	IncludeHidden bool
	// FollowExternalLinks reads symbolic links whose target resolves outside
	// the directory being loaded. Default false: such a link is reported as
	// a problem wrapping ErrOutsideRoot and not read, so a link such as
	// passwd.md -> /etc/passwd cannot carry a file out of the machine.
	FollowExternalLinks bool
}

// Skip reasons of Loaded.Skipped.
const (
	SkipHiddenDirectory = "hidden directory, not walked (use --include-hidden to walk it)"
	SkipExtension       = "extension not loaded (only .md, .markdown, .mdx, .txt, .html and .htm are)"
	SkipNotRegular      = "not a regular file (device, socket or pipe)"
)

// Skipped is a file or directory a walk left out on purpose: not a problem
// with the file, but the user should be able to see it was not loaded.
type Skipped struct {
	// Path is slash-separated and relative to the loaded root.
	Path string `json:"path"`
	// Reason is one of the Skip constants.
	Reason string `json:"reason"`
}

// Loaded is what Load found under a root.
type Loaded struct {
	// Documents are in path order.
	Documents []Document
	// Problems are files that should have been loaded and could not be.
	Problems []*DocumentError
	// Skipped are entries left out on purpose, in walk order.
	Skipped []Skipped
}

// formatByExt maps the loaded file extensions to their format. Files with
// other extensions are skipped in a directory walk.
var formatByExt = map[string]Format{
	".md": FormatMarkdown, ".markdown": FormatMarkdown, ".mdx": FormatMarkdown,
	".txt":  FormatText,
	".html": FormatHTML, ".htm": FormatHTML,
}

// LoadPath is Load without the list of skipped entries.
func LoadPath(ctx context.Context, root string, opts LoadOptions) (docs []Document, problems []*DocumentError, err error) {
	loaded, err := Load(ctx, root, opts)
	return loaded.Documents, loaded.Problems, err
}

// Load loads a file, or every markdown, text and HTML file under a
// directory: Walk, with what it finds collected in memory.
func Load(ctx context.Context, root string, opts LoadOptions) (Loaded, error) {
	var loaded Loaded
	skipped, err := Walk(ctx, root, opts, func(doc *Document, problem *DocumentError) error {
		if doc != nil {
			loaded.Documents = append(loaded.Documents, *doc)
		} else {
			loaded.Problems = append(loaded.Problems, problem)
		}
		return nil
	})
	loaded.Skipped = skipped
	return loaded, err
}

// A Visit receives what a walk loads, one file at a time: its document, or
// the problem that kept it from loading (doc is nil then). An error stops
// the walk, and Walk returns it as it is.
type Visit func(doc *Document, problem *DocumentError) error

// Walk loads a file, or every markdown, text and HTML file under a
// directory, and hands each document to visit as soon as its file is
// read, in path order, so that a tree of any size is never held in memory.
// Documents' URL is the slash-separated path relative to root (the file
// name when root is a file). Symbolic links are followed while their
// target stays inside the root (see LoadOptions.FollowExternalLinks).
// Files that cannot be loaded (unreadable, binary, too large, empty, a
// symlink loop, a link outside the root) go to visit as problems, and the
// walk goes on; entries left out on purpose (hidden directories, other
// extensions) are returned as skipped. The error is visit's, or one for a
// root that cannot be read or a cancelled ctx.
func Walk(ctx context.Context, root string, opts LoadOptions, visit Visit) ([]Skipped, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("error loading %s: %w", root, err)
	}
	l := &loader{ctx: ctx, opts: opts, visit: visit}
	if !info.IsDir() {
		// A file named explicitly is read wherever a link to it points.
		name := filepath.Base(root)
		if _, ok := formatByExt[strings.ToLower(filepath.Ext(name))]; !ok {
			return nil, visit(nil, docError(name, "extension not loaded", ErrUnsupportedType))
		}
		l.loadFile(root, name, info)
		return nil, l.err
	}
	if l.rootReal, err = filepath.EvalSymlinks(root); err != nil {
		return nil, fmt.Errorf("error resolving %s: %w", root, err)
	}
	if l.rootReal, err = filepath.Abs(l.rootReal); err != nil {
		return nil, fmt.Errorf("error resolving %s: %w", root, err)
	}
	if !opts.FollowExternalLinks {
		// Files are read through an os.Root: a link swapped after the check
		// below still cannot lead a read outside the root.
		if l.root, err = os.OpenRoot(l.rootReal); err != nil {
			return nil, fmt.Errorf("error opening %s: %w", root, err)
		}
		defer func() { _ = l.root.Close() }()
	}
	err = l.walk(root, "", []os.FileInfo{info})
	return l.skipped, err
}

type loader struct {
	ctx   context.Context
	opts  LoadOptions
	visit Visit
	// err is visit's first error, which stops the walk.
	err error
	// rootReal is the root directory with every link resolved; root opens
	// files beneath it, nil when links may lead outside.
	rootReal string
	root     *os.Root
	skipped  []Skipped
}

// emit hands a document or a problem to visit, unless visit has already
// failed.
func (l *loader) emit(doc *Document, problem *DocumentError) {
	if l.err == nil {
		l.err = l.visit(doc, problem)
	}
}

func (l *loader) problem(name, reason string, err error) {
	l.emit(nil, docError(name, reason, err))
}

func (l *loader) skip(name, reason string) {
	l.skipped = append(l.skipped, Skipped{Path: name, Reason: reason})
}

// walk loads the directory dir, whose path relative to the root is rel.
// ancestors are the directories on the way down, to detect symlink loops.
func (l *loader) walk(dir, rel string, ancestors []os.FileInfo) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if rel == "" {
			return fmt.Errorf("error reading %s: %w", dir, err)
		}
		l.problem(rel, "cannot read directory", err)
		return nil
	}
	for _, e := range entries {
		if l.err != nil {
			return l.err
		}
		if err := l.ctx.Err(); err != nil {
			return fmt.Errorf("loading %s stopped: %w", dir, err)
		}
		name := e.Name()
		full := filepath.Join(dir, name)
		relName := path.Join(rel, name)
		info, err := os.Stat(full) // follows symbolic links
		switch {
		case errors.Is(err, syscall.ELOOP):
			l.problem(relName, ErrSymlinkLoop.Error(), ErrSymlinkLoop)
			continue
		case err != nil && e.Type()&fs.ModeSymlink != 0:
			l.problem(relName, "broken symbolic link", err)
			continue
		case err != nil:
			l.problem(relName, "cannot stat", err)
			continue
		}
		if info.IsDir() {
			if !l.opts.IncludeHidden && strings.HasPrefix(name, ".") {
				l.skip(relName, SkipHiddenDirectory)
				continue
			}
			if e.Type()&fs.ModeSymlink != 0 && !l.linkInside(full, relName) {
				continue
			}
			if loops(info, ancestors) {
				l.problem(relName, "directory links back to "+dir, ErrSymlinkLoop)
				continue
			}
			if err := l.walk(full, relName, append(ancestors[:len(ancestors):len(ancestors)], info)); err != nil {
				return err
			}
			continue
		}
		if !info.Mode().IsRegular() {
			l.skip(relName, SkipNotRegular)
			continue
		}
		if _, ok := formatByExt[strings.ToLower(filepath.Ext(name))]; !ok {
			l.skip(relName, SkipExtension)
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 && !l.linkInside(full, relName) {
			continue
		}
		l.loadFile(full, relName, info)
	}
	return l.err
}

// linkInside reports whether the symbolic link full may be followed: its
// target resolves inside the root, or external links are allowed. When not,
// it records the problem.
func (l *loader) linkInside(full, relName string) bool {
	if l.opts.FollowExternalLinks {
		return true
	}
	target, err := filepath.EvalSymlinks(full)
	if err != nil {
		l.problem(relName, "cannot resolve symbolic link", err)
		return false
	}
	if within(l.rootReal, target) {
		return true
	}
	l.problem(relName, fmt.Sprintf("symbolic link to %s points outside %s; not read (use --follow-external-links to allow)", target, l.rootReal), ErrOutsideRoot)
	return false
}

// within reports whether path is dir or beneath it; both are absolute and
// clean.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func loops(dir os.FileInfo, ancestors []os.FileInfo) bool {
	for _, a := range ancestors {
		if os.SameFile(a, dir) {
			return true
		}
	}
	return false
}

func (l *loader) loadFile(full, name string, info os.FileInfo) {
	maxBytes := l.opts.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxDocumentBytes
	}
	// Refuse before reading: the file may be huge.
	if info.Size() > int64(maxBytes) {
		l.problem(name, fmt.Sprintf("%d bytes, limit %d", info.Size(), maxBytes), ErrTooLarge)
		return
	}
	raw, err := l.readFile(full, name, maxBytes)
	if err != nil {
		l.problem(name, "cannot read file", err)
		return
	}
	format := formatByExt[strings.ToLower(filepath.Ext(name))]
	doc, derr := prepare(name, raw, format, maxBytes)
	if derr != nil {
		l.emit(nil, derr)
		return
	}
	l.emit(&doc, nil)
}

// readFile reads the file full, at name relative to the root: through the
// os.Root when there is one. It reads at most one byte more than maxBytes,
// so a file that grew since it was stated is still refused as too large.
func (l *loader) readFile(full, name string, maxBytes int) ([]byte, error) {
	var f *os.File
	var err error
	if l.root != nil {
		f, err = l.root.Open(filepath.FromSlash(name))
	} else {
		f, err = os.Open(full)
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	return io.ReadAll(io.LimitReader(f, int64(maxBytes)+1))
}
