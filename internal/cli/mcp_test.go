package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/apptest"
	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testbin"
	"github.com/kollektiv/kollektiv/internal/wait"
)

// TestMCPBinaryOverStdio starts `kollektiv mcp --user agent` as an MCP
// client starts it, through the SDK's CommandTransport, and uses its tools
// and a document resource on sources ingested by workers of this process:
// agent's source is found and read, another user's is not found.
func TestMCPBinaryOverStdio(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it")
	}
	t.Parallel()
	binary := testbin.Build(t)
	ctx := context.Background()

	// Workers in this process ingest a source for agent and one for
	// someone else.
	cfg := apptest.Config(t)
	dbURL := cfg.DatabaseURL
	a := apptest.Start(t, cfg, nil, app.Options{Worker: true})
	svc := &ingest.Service{Pool: a.Pool, River: a.River}
	ids := map[string]uuid.UUID{}
	for user, body := range map[string]string{
		"agent":   "# Lighthouses\n\nA lighthouse keeper trims the lamp wick every evening before dusk.\n",
		"someone": "# Private notes\n\nThe lamp wick of the private lighthouse is trimmed at noon.\n",
	} {
		doc, err := content.PrepareDocument("", "notes/"+user+".md", body, content.PrepareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		added, err := svc.Add(ctx, ingest.AddParams{UserID: user, Kind: ingest.KindInline, Documents: []content.Document{doc}})
		if err != nil {
			t.Fatal(err)
		}
		ids[user] = added.Source.ID
	}
	for user, id := range ids {
		wait.For(t, 2*time.Minute, func() (bool, string) {
			s, err := a.Queries.GetSource(ctx, store.GetSourceParams{ID: id, UserID: user})
			if err != nil {
				t.Fatal(err)
			}
			return s.Stage == "completed", fmt.Sprintf("%s's source is %s", user, s.Stage)
		})
	}

	cmd := exec.Command(binary, "mcp", "--user", "agent")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "KOLLEKTIV_LOG_LEVEL=warn")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	session, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connecting to kollektiv mcp: %v\n%s", err, stderr.String())
	}
	if info := session.InitializeResult().ServerInfo; info.Name != "kollektiv" || info.Version == "" || info.Version == "dev" {
		t.Errorf("server info %+v", info)
	}
	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	if want := []string{"get_document", "get_source", "ingest_url", "list_documents", "list_sources", "refresh_source", "search"}; !slices.Equal(names, want) {
		t.Fatalf("tools %v, want %v", names, want)
	}

	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "search", Arguments: map[string]any{"query": "lamp wick"}})
	if err != nil || res.IsError {
		t.Fatalf("search: %v %+v", err, res)
	}
	var found struct {
		Hits []struct {
			Text, Breadcrumb, URL string
			DocumentID            string `json:"document_id"`
			SourceID              string `json:"source_id"`
		}
	}
	raw, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(raw, &found); err != nil {
		t.Fatal(err)
	}
	if len(found.Hits) != 1 || found.Hits[0].SourceID != ids["agent"].String() || found.Hits[0].Breadcrumb != "Lighthouses" ||
		found.Hits[0].URL != "notes/agent.md#lighthouses" || !strings.Contains(found.Hits[0].Text, "every evening") {
		t.Fatalf("search over stdio: %s", raw)
	}
	read, err := session.ReadResource(ctx, &mcp.ReadResourceParams{URI: "kollektiv://documents/" + found.Hits[0].DocumentID})
	if err != nil || len(read.Contents) != 1 || !strings.HasPrefix(read.Contents[0].Text, "# Lighthouses") {
		t.Fatalf("read resource: %+v %v", read, err)
	}
	res, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "get_source", Arguments: map[string]any{"source_id": ids["someone"].String()}})
	if err != nil || !res.IsError || res.Content[0].(*mcp.TextContent).Text != "no such source" {
		t.Fatalf("get_source of another user's source: %v %+v", err, res)
	}

	// The client leaves: the process ends, cleanly, and wrote nothing but
	// the protocol on stdout (the SDK would have failed on anything else).
	if err := session.Close(); err != nil {
		t.Fatalf("closing: %v\n%s", err, stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 || strings.Contains(stderr.String(), "ERROR") {
		t.Fatalf("kollektiv mcp exited %d\n%s", code, stderr.String())
	}
}
