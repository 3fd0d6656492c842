package mcpserver

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kollektiv/kollektiv/internal/documents"
)

// documentURIPrefix starts the URI of each document as a resource.
const documentURIPrefix = "kollektiv://documents/"

// DocumentURI is the resource URI of a document.
func DocumentURI(id uuid.UUID) string { return documentURIPrefix + id.String() }

func (s *Server) addResources() {
	s.mcp.AddResourceTemplate(&mcp.ResourceTemplate{
		Name:        "document",
		Title:       "A document of the knowledge base",
		URITemplate: documentURIPrefix + "{id}",
		Description: "The whole markdown of one document, by its id (document_id of a search hit or of list_documents).",
		MIMEType:    "text/markdown",
	}, s.readDocument)
}

// readDocument answers a read of kollektiv://documents/{id}: the document's
// markdown. Another user's document is not found, as a missing one is.
func (s *Server) readDocument(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	user, err := s.userOf(req.Extra)
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: err.Error()}
	}
	id, err := parseID("id", "document", strings.TrimPrefix(uri, documentURIPrefix))
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
	}
	// One chunk: the chunks are get_document's, this wants the content.
	doc, err := s.docs.Get(ctx, documents.GetQuery{UserID: user, DocumentID: id, Content: true, ChunkLimit: 1})
	if errors.Is(err, documents.ErrDocumentNotFound) {
		// Not found is invalid params since SEP-2164.
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: documents.ErrDocumentNotFound.Error()}
	}
	if err != nil {
		return nil, s.callError(ctx, "read "+uri, err)
	}
	text := ""
	if doc.Content != nil {
		text = *doc.Content
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
		URI: uri, MIMEType: "text/markdown", Text: text,
	}}}, nil
}
