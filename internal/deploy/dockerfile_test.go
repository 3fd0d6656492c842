package deploy

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY...
	args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	from         string // the FROM arguments, e.g. "golang:1.26 AS build"
	name         string // the AS name, lower case; "" when unnamed
	instructions []instruction
}

// parseDockerfile splits a Dockerfile into stages. It knows what this test
// needs: comments, line continuations and FROM ... AS name; not heredocs
// or a changed escape character.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		stages  []stage
		pending string
	)
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && pending == "") {
			continue
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			pending += rest + " "
			continue
		}
		line, pending = pending+line, ""
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			fields := strings.Fields(in.args)
			s := stage{from: in.args}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = strings.ToLower(fields[2])
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s: %s before the first FROM", path, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if pending != "" {
		t.Fatalf("%s ends in a line continuation", path)
	}
	return stages
}

// last returns the stage's last instruction cmd, or fails the test.
func (s stage) last(t *testing.T, cmd string) instruction {
	t.Helper()
	for _, in := range slices.Backward(s.instructions) {
		if in.cmd == cmd {
			return in
		}
	}
	t.Fatalf("Dockerfile stage %q has no %s", s.from, cmd)
	return instruction{}
}

// runCommand strips a RUN's options (--mount=..., --network=...), leaving
// the shell command.
func runCommand(args string) string {
	fields := strings.Fields(args)
	for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
		fields = fields[1:]
	}
	return strings.Join(fields, " ")
}

// jsonArgs decodes an exec-form argument list such as ["serve"].
func jsonArgs(t *testing.T, in instruction) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(in.args), &args); err != nil {
		t.Fatalf("Dockerfile %s %s: want exec (JSON) form: %v", in.cmd, in.args, err)
	}
	return args
}

// makeBuildCommand returns the Makefile's BUILD with its variables
// substituted, as make would run it with no overrides.
func makeBuildCommand(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	assignment := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*(?::=|\?=|=)\s*(.*)$`)
	vars := map[string]string{}
	for line := range strings.Lines(string(data)) {
		if m := assignment.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			vars[m[1]] = strings.TrimSpace(m[2])
		}
	}
	build, ok := vars["BUILD"]
	if !ok {
		t.Fatalf("%s has no BUILD variable", makefilePath)
	}
	reference := regexp.MustCompile(`\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]`)
	for range 10 {
		if !reference.MatchString(build) {
			return strings.Join(strings.Fields(build), " ")
		}
		build = reference.ReplaceAllStringFunc(build, func(ref string) string {
			name := reference.FindStringSubmatch(ref)[1]
			v, ok := vars[name]
			if !ok {
				t.Fatalf("%s: BUILD uses undefined variable %s", makefilePath, name)
			}
			return v
		})
	}
	t.Fatalf("%s: BUILD's variables do not resolve: %s", makefilePath, build)
	return ""
}

// outputPath returns the -o argument of a go build command.
func outputPath(t *testing.T, command string) string {
	t.Helper()
	fields := strings.Fields(command)
	i := slices.Index(fields, "-o")
	if i < 0 || i+1 == len(fields) {
		t.Fatalf("build command %q has no -o", command)
	}
	return fields[i+1]
}

// dockerfileEntrypoint returns the binary the final stage runs.
func dockerfileEntrypoint(t *testing.T) string {
	t.Helper()
	stages := parseDockerfile(t, dockerfilePath)
	if len(stages) == 0 {
		t.Fatalf("%s has no FROM", dockerfilePath)
	}
	entrypoint := jsonArgs(t, stages[len(stages)-1].last(t, "ENTRYPOINT"))
	if len(entrypoint) != 1 {
		t.Fatalf("Dockerfile ENTRYPOINT = %q, want the binary alone", entrypoint)
	}
	return entrypoint[0]
}

func TestDockerfileMultiStage(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t, dockerfilePath)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	// The build stage's Go is the one go.mod asks for.
	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if want := "golang:" + string(m[1]); !strings.HasPrefix(stages[0].from, want) {
		t.Errorf("Dockerfile's first stage FROM %s, want %s (go.mod's Go)", stages[0].from, want)
	}
	final := stages[len(stages)-1]
	if strings.HasPrefix(final.from, "golang") {
		t.Errorf("Dockerfile's final stage FROM %s: want a small runtime image, not the toolchain", final.from)
	}
}

// TestDockerfileBuildCommand checks that the Dockerfile builds with the
// Makefile's one build command, after downloading modules in a layer of
// their own, and that the final stage takes the binary it built.
func TestDockerfileBuildCommand(t *testing.T) {
	t.Parallel()
	build := makeBuildCommand(t)
	stages := parseDockerfile(t, dockerfilePath)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}

	builder := -1
	var (
		modulesCopied, modulesDownloaded, sourcesCopied bool
		layerOrder                                      = true
	)
	for i, s := range stages[:len(stages)-1] {
		for _, in := range s.instructions {
			switch in.cmd {
			case "COPY":
				fields := strings.Fields(in.args)
				if slices.Contains(fields, "go.mod") && slices.Contains(fields, "go.sum") {
					modulesCopied = true
				}
				if len(fields) >= 2 && fields[0] == "." {
					sourcesCopied = true
				}
			case "RUN":
				command := runCommand(in.args)
				if strings.Contains(command, "go mod download") {
					modulesDownloaded = true
					layerOrder = layerOrder && modulesCopied && !sourcesCopied
				}
				// The build may be one step of several: a && b; c.
				for part := range strings.FieldsFuncSeq(command, func(r rune) bool { return r == '&' || r == ';' }) {
					if strings.Join(strings.Fields(part), " ") == build {
						builder = i
					}
				}
			}
		}
	}
	if builder < 0 {
		t.Fatalf("no RUN in the Dockerfile's build stages runs the Makefile's build command %q", build)
	}
	if !modulesDownloaded || !layerOrder {
		t.Errorf("Dockerfile: want COPY go.mod go.sum, then RUN go mod download, before COPY . (downloaded %t, in order %t)",
			modulesDownloaded, layerOrder)
	}

	// The final stage copies that binary from that stage to the entrypoint.
	final := stages[len(stages)-1]
	from := stages[builder].name
	binary := outputPath(t, build)
	entrypoint := dockerfileEntrypoint(t)
	var copied bool
	for _, in := range final.instructions {
		fields := strings.Fields(in.args)
		if in.cmd != "COPY" || len(fields) != 3 || !strings.EqualFold(fields[0], "--from="+from) {
			continue
		}
		if strings.HasSuffix(fields[1], "/"+binary) && fields[2] == entrypoint {
			copied = true
		}
	}
	if from == "" || !copied {
		t.Errorf("Dockerfile's final stage does not COPY --from=%s .../%s %s (the build stage needs an AS name)",
			from, binary, entrypoint)
	}
}

func TestDockerfileNonRoot(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t, dockerfilePath)
	final := stages[len(stages)-1]
	user, group, _ := strings.Cut(final.last(t, "USER").args, ":")
	if user == "" || user == "root" || strings.TrimLeft(user, "0") == "" {
		t.Errorf("Dockerfile's final stage USER %q, want a non-root user", user)
	}
	if group != "" && (group == "root" || strings.TrimLeft(group, "0") == "") {
		t.Errorf("Dockerfile's final stage USER group %q, want a non-root group", group)
	}
}

func TestDockerfileRuns(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t, dockerfilePath)
	final := stages[len(stages)-1]
	if got := dockerfileEntrypoint(t); got != "/usr/local/bin/kollektiv" {
		t.Errorf("Dockerfile ENTRYPOINT %q, want /usr/local/bin/kollektiv", got)
	}
	if got := jsonArgs(t, final.last(t, "CMD")); !slices.Equal(got, []string{"serve"}) {
		t.Errorf("Dockerfile CMD %q, want [serve]", got)
	}
	if got := strings.Fields(final.last(t, "EXPOSE").args); !slices.Contains(got, "8080") && !slices.Contains(got, "8080/tcp") {
		t.Errorf("Dockerfile EXPOSE %q, want 8080", got)
	}
}
