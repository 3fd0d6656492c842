package content

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// LoadOptions are the options of LoadPath. The zero value gives the
// defaults.
type LoadOptions struct {
	// MaxBytes is the size limit of one file; larger files are reported
	// with ErrTooLarge. Default DefaultMaxDocumentBytes.
	MaxBytes int
	// IncludeHidden also walks files and directories whose name starts with
	// a dot. Default false: .git and the like are skipped.
	IncludeHidden bool
}

// formatByExt maps the loaded file extensions to their format. Files with
// other extensions are skipped in a directory walk.
var formatByExt = map[string]Format{
	".md": FormatMarkdown, ".markdown": FormatMarkdown, ".mdx": FormatMarkdown,
	".txt":  FormatText,
	".html": FormatHTML, ".htm": FormatHTML,
}

// LoadPath loads a file, or every markdown, text and HTML file under a
// directory, following symbolic links. Documents are in path order and
// their URL is the slash-separated path relative to root (the file name
// when root is a file). Files that cannot be loaded (unreadable, binary,
// too large, empty, a symlink loop) are returned as problems, and the walk
// goes on. err is only for a root that cannot be read or a cancelled ctx.
func LoadPath(ctx context.Context, root string, opts LoadOptions) (docs []Document, problems []*DocumentError, err error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, nil, fmt.Errorf("error loading %s: %w", root, err)
	}
	l := &loader{ctx: ctx, opts: opts}
	if !info.IsDir() {
		name := filepath.Base(root)
		if _, ok := formatByExt[strings.ToLower(filepath.Ext(name))]; !ok {
			return nil, []*DocumentError{docError(name, "extension not loaded", ErrUnsupportedType)}, nil
		}
		l.loadFile(root, name, info)
		return l.docs, l.problems, nil
	}
	if err := l.walk(root, "", []os.FileInfo{info}); err != nil {
		return l.docs, l.problems, err
	}
	return l.docs, l.problems, nil
}

type loader struct {
	ctx      context.Context
	opts     LoadOptions
	docs     []Document
	problems []*DocumentError
}

func (l *loader) problem(name, reason string, err error) {
	l.problems = append(l.problems, docError(name, reason, err))
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
		if err := l.ctx.Err(); err != nil {
			return fmt.Errorf("loading %s stopped: %w", dir, err)
		}
		name := e.Name()
		if !l.opts.IncludeHidden && strings.HasPrefix(name, ".") {
			continue
		}
		full := filepath.Join(dir, name)
		relName := path.Join(rel, name)
		info, err := os.Stat(full) // follows symbolic links
		if err != nil {
			if e.Type()&fs.ModeSymlink != 0 {
				l.problem(relName, "broken symbolic link", err)
			} else {
				l.problem(relName, "cannot stat", err)
			}
			continue
		}
		if info.IsDir() {
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
			continue
		}
		if _, ok := formatByExt[strings.ToLower(filepath.Ext(name))]; ok {
			l.loadFile(full, relName, info)
		}
	}
	return nil
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
	raw, err := os.ReadFile(full)
	if err != nil {
		l.problem(name, "cannot read file", err)
		return
	}
	format := formatByExt[strings.ToLower(filepath.Ext(name))]
	doc, derr := prepare(name, raw, format, maxBytes)
	if derr != nil {
		l.problems = append(l.problems, derr)
		return
	}
	l.docs = append(l.docs, doc)
}
