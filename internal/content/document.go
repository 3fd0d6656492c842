package content

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Document is one cleaned document of a source, ready to be chunked.
type Document struct {
	// URL is the document's identity within its source: the normalised URL
	// of a crawled page, or the slash-separated path relative to the loaded
	// root for files.
	URL string
	// Title comes from front matter, else the first h1, else the HTML
	// <title>, else the file name or URL.
	Title string
	// Content is the cleaned markdown: front matter removed, images and
	// base64 data removed, HTML converted, line endings normalised.
	Content string
	// Metadata holds front matter fields and loader facts (content type,
	// format). Nil when there is nothing to say.
	Metadata map[string]any
}

// ContentHash returns the hex sha256 of the title and content, so a
// re-ingest can skip documents whose hash did not change. A changed title
// changes the hash because the title is shown with search results.
func (d Document) ContentHash() string {
	sum := d.ContentSum()
	return hex.EncodeToString(sum[:])
}

// ContentSum is ContentHash as bytes, the form stored. The strings go
// through a small buffer instead of being converted to byte slices: a
// conversion copies the whole content to the heap, which made most of the
// hashing's cost when a large source is added (BenchmarkAdd).
func (d *Document) ContentSum() [sha256.Size]byte {
	h := sha256.New()
	var buf [512]byte
	for _, s := range [...]string{d.Title, "\x00", d.Content} {
		for len(s) > 0 {
			n := copy(buf[:], s)
			h.Write(buf[:n])
			s = s[n:]
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// DocumentID returns the deterministic id of the document at url (a
// normalised URL or a path relative to the source root) in the source
// sourceID: a UUIDv5 in the namespace sourceID.
func DocumentID(sourceID uuid.UUID, url string) uuid.UUID {
	return uuid.NewSHA1(sourceID, []byte(url))
}

// ChunkID returns the deterministic id of a chunk: a UUIDv5 in the namespace
// documentID over the ordinal and the sha256 of the chunk text. The same
// document chunked with the same options gives the same ids.
func ChunkID(documentID uuid.UUID, ordinal int, text string) uuid.UUID {
	sum := sha256.Sum256([]byte(text))
	name := make([]byte, 0, 20+2*len(sum))
	name = strconv.AppendInt(name, int64(ordinal), 10)
	name = append(name, ':')
	name = hex.AppendEncode(name, sum[:])
	return uuid.NewSHA1(documentID, name)
}

// Errors a DocumentError can wrap; test them with errors.Is.
var (
	// ErrBinary: the content is not text (NUL bytes, a binary content type
	// or file signature).
	ErrBinary = errors.New("binary content")
	// ErrInvalidUTF8: the content is not UTF-8 and too much of it is
	// invalid to repair by replacing the bad bytes.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrTooLarge: the content is over the configured size limit.
	ErrTooLarge = errors.New("over the size limit")
	// ErrEmpty: nothing is left after cleaning.
	ErrEmpty = errors.New("empty after cleaning")
	// ErrUnsupportedType: a file extension or content type that is not
	// loaded (only markdown, text and HTML are).
	ErrUnsupportedType = errors.New("unsupported content type")
	// ErrDisallowed: robots.txt, the site boundary or the address policy
	// forbids fetching the URL.
	ErrDisallowed = errors.New("not allowed")
	// ErrSymlinkLoop: a symbolic link points back into a directory being
	// walked.
	ErrSymlinkLoop = errors.New("symbolic link loop")
	// ErrOutsideRoot: a symbolic link in a loaded directory resolves
	// outside it, and LoadOptions.FollowExternalLinks is off.
	ErrOutsideRoot = errors.New("link outside the loaded directory")
	// ErrHTTPStatus: a page answered with a status other than 200.
	ErrHTTPStatus = errors.New("unexpected HTTP status")
)

// DocumentError says why one document could not be loaded. Loaders return
// it per document and carry on with the others.
type DocumentError struct {
	// URL names the document: its URL or path.
	URL string
	// Reason is a short human-readable explanation.
	Reason string
	// Err is the cause, often one of the sentinel errors above.
	Err error
}

// Error names the document, the reason and the cause, each once: the
// cause is left out when the reason already says it, and the reason when
// there is none.
func (e *DocumentError) Error() string {
	switch {
	case e.Reason == "" && e.Err != nil:
		return fmt.Sprintf("document %s: %v", e.URL, e.Err)
	case e.Err == nil || strings.HasSuffix(e.Reason, e.Err.Error()) || errors.Is(e.Err, ErrOutsideRoot):
		// For a link outside the root the reason is the whole story.
		return fmt.Sprintf("document %s: %s", e.URL, e.Reason)
	default:
		return fmt.Sprintf("document %s: %s: %v", e.URL, e.Reason, e.Err)
	}
}

// Unwrap returns the cause so errors.Is finds the sentinel.
func (e *DocumentError) Unwrap() error { return e.Err }

func docError(url, reason string, err error) *DocumentError {
	return &DocumentError{URL: url, Reason: reason, Err: err}
}
