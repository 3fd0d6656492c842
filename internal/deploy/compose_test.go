package deploy

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"

	kcli "github.com/kollektiv/kollektiv/internal/cli"
	"github.com/kollektiv/kollektiv/internal/config"
)

const (
	composePath    = "../../compose.yaml"
	embeddingsEnv  = "../../compose.embeddings.env"
	dockerfilePath = "../../Dockerfile"
	makefilePath   = "../../Makefile"
)

// kollektivServices are the services that run the Kollektiv image, and
// longRunning those of them that stay up and need a health check.
var (
	kollektivServices = []string{"migrate", "api", "worker"}
	longRunning       = []string{"api", "worker"}
)

// loadProject loads compose.yaml as `docker compose` would, with env as the
// whole environment for interpolation (the machine's own is ignored, so the
// test sees the file's defaults).
func loadProject(t *testing.T, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{composePath},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(environ),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatalf("error creating project options: %v", err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("error loading %s: %v", composePath, err)
	}
	return project
}

func service(t *testing.T, project *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := project.GetService(name)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return s
}

// env returns a service's environment variable; unset and empty are both "".
func env(s types.ServiceConfig, name string) string {
	if v, ok := s.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

func TestComposeServices(t *testing.T) {
	t.Parallel()
	project := loadProject(t, nil)
	for _, name := range append([]string{"postgres"}, kollektivServices...) {
		if _, err := project.GetService(name); err != nil {
			t.Errorf("compose.yaml: %v", err)
		}
	}
}

func TestComposePostgres(t *testing.T) {
	t.Parallel()
	project := loadProject(t, nil)
	pg := service(t, project, "postgres")

	if !strings.HasPrefix(pg.Image, "pgvector/pgvector:") {
		t.Errorf("postgres image = %q, want pgvector/pgvector:<tag>", pg.Image)
	}
	// Data on a named volume declared at the top level, so that it outlives
	// the container.
	var dataVolume bool
	for _, v := range pg.Volumes {
		if v.Type != types.VolumeTypeVolume || v.Target != "/var/lib/postgresql/data" {
			continue
		}
		if _, ok := project.Volumes[v.Source]; !ok {
			t.Errorf("postgres volume %q is not declared under volumes:", v.Source)
		}
		dataVolume = true
	}
	if !dataVolume {
		t.Errorf("postgres has no named volume on /var/lib/postgresql/data: %+v", pg.Volumes)
	}
	if pg.HealthCheck == nil || pg.HealthCheck.Disable || !slices.Contains(pg.HealthCheck.Test, "pg_isready") {
		t.Errorf("postgres health check = %+v, want one running pg_isready", pg.HealthCheck)
	}
}

func TestComposeMigrate(t *testing.T) {
	t.Parallel()
	project := loadProject(t, nil)
	migrate := service(t, project, "migrate")

	if got, want := []string(migrate.Command), []string{"migrate", "up"}; !slices.Equal(got, want) {
		t.Errorf("migrate command = %q, want %q", got, want)
	}
	// One-shot: restarting it after it exited 0 would re-run it forever.
	if migrate.Restart != types.RestartPolicyNo {
		t.Errorf("migrate restart = %q, want %q", migrate.Restart, types.RestartPolicyNo)
	}
	if dep, ok := migrate.DependsOn["postgres"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("migrate depends_on postgres = %+v (present %t), want condition %s",
			dep, ok, types.ServiceConditionHealthy)
	}
	// Everything else waits for the migrations.
	for _, name := range longRunning {
		s := service(t, project, name)
		if dep, ok := s.DependsOn["migrate"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s depends_on migrate = %+v (present %t), want condition %s",
				name, dep, ok, types.ServiceConditionCompletedSuccessfully)
		}
	}
}

func TestComposeLongRunningServices(t *testing.T) {
	t.Parallel()
	project := loadProject(t, nil)
	entrypoint := dockerfileEntrypoint(t)

	tests := []struct {
		service string
		command []string
		// check is the health check's arguments after the binary: the API
		// is healthy without a live worker, a worker is not.
		check []string
	}{
		{service: "api", command: []string{"api"}, check: []string{"check", "--require-worker=false"}},
		{service: "worker", command: []string{"worker"}, check: []string{"check"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			s := service(t, project, tt.service)
			if !slices.Equal(s.Command, tt.command) {
				t.Errorf("command = %q, want %q", s.Command, tt.command)
			}
			hc := s.HealthCheck
			if hc == nil || hc.Disable {
				t.Fatalf("health check = %+v, want kollektiv %s", hc, strings.Join(tt.check, " "))
			}
			// The image has no shell (distroless): exec form, the binary
			// the Dockerfile installs.
			want := append([]string{"CMD", entrypoint}, tt.check...)
			if !slices.Equal(hc.Test, want) {
				t.Errorf("health check test = %q, want %q", hc.Test, want)
			}
			if s.Restart == "" || s.Restart == types.RestartPolicyNo {
				t.Errorf("restart = %q, want a policy that restarts", s.Restart)
			}
		})
	}
}

func TestComposeWorkerReplicas(t *testing.T) {
	t.Parallel()
	worker := service(t, loadProject(t, nil), "worker")
	if worker.Deploy == nil || worker.Deploy.Replicas == nil || *worker.Deploy.Replicas <= 1 {
		t.Errorf("worker deploy = %+v, want replicas > 1", worker.Deploy)
	}
}

func TestComposeWorkerStopsGracefully(t *testing.T) {
	t.Parallel()
	worker := service(t, loadProject(t, nil), "worker")
	cfg := serviceConfig(t, worker)
	// Docker kills the container after stop_grace_period; the worker needs
	// its soft stop timeout to let running jobs finish.
	if worker.StopGracePeriod == nil || time.Duration(*worker.StopGracePeriod) <= cfg.SoftStopTimeout {
		t.Errorf("worker stop_grace_period = %v, want more than the soft stop timeout %s",
			worker.StopGracePeriod, cfg.SoftStopTimeout)
	}
}

func TestComposeAPIPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		env           map[string]string
		wantPublished string
	}{
		{name: "default", wantPublished: "8080"},
		{name: "KOLLEKTIV_API_PORT", env: map[string]string{"KOLLEKTIV_API_PORT": "9090"}, wantPublished: "9090"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := service(t, loadProject(t, tt.env), "api")
			_, port, err := net.SplitHostPort(serviceConfig(t, api).HTTPAddr)
			if err != nil {
				t.Fatalf("api http addr: %v", err)
			}
			if port != "8080" {
				t.Errorf("api listens on port %s, want 8080", port)
			}
			var published bool
			for _, p := range api.Ports {
				if p.Target == 8080 && p.Published == tt.wantPublished {
					published = true
				}
			}
			if !published {
				t.Errorf("api ports = %+v, want container port 8080 published on %s", api.Ports, tt.wantPublished)
			}
		})
	}
}

func TestComposeDatabaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
	}{
		{name: "default"},
		{name: "POSTGRES_PASSWORD", env: map[string]string{"POSTGRES_PASSWORD": "s3cret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			project := loadProject(t, tt.env)
			pg := service(t, project, "postgres")
			if pw, ok := tt.env["POSTGRES_PASSWORD"]; ok && env(pg, "POSTGRES_PASSWORD") != pw {
				t.Errorf("postgres POSTGRES_PASSWORD = %q, want %q from the environment", env(pg, "POSTGRES_PASSWORD"), pw)
			}
			for _, name := range kollektivServices {
				s := service(t, project, name)
				raw := env(s, "DATABASE_URL")
				if raw == "" {
					t.Errorf("%s: DATABASE_URL not set", name)
					continue
				}
				u, err := url.Parse(raw)
				if err != nil {
					t.Errorf("%s: DATABASE_URL: %v", name, err)
					continue
				}
				password, _ := u.User.Password()
				got := []string{u.Hostname(), u.Port(), u.User.Username(), password, strings.TrimPrefix(u.Path, "/")}
				want := []string{"postgres", "5432", env(pg, "POSTGRES_USER"), env(pg, "POSTGRES_PASSWORD"), env(pg, "POSTGRES_DB")}
				if !slices.Equal(got, want) {
					t.Errorf("%s: DATABASE_URL host, port, user, password, database = %q, want the postgres service's %q",
						name, got, want)
				}
				if got := env(s, "KOLLEKTIV_LOG_FORMAT"); got != "json" {
					t.Errorf("%s: KOLLEKTIV_LOG_FORMAT = %q, want json", name, got)
				}
			}
		})
	}
}

// TestComposeImage checks that the Kollektiv services run one image, built
// once from the Dockerfile, and never pulled from a registry.
func TestComposeImage(t *testing.T) {
	t.Parallel()
	project := loadProject(t, nil)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	image := service(t, project, kollektivServices[0]).Image
	var builders []string
	for _, name := range kollektivServices {
		s := service(t, project, name)
		if s.Image == "" || s.Image != image {
			t.Errorf("%s image = %q, want %q like the other Kollektiv services", name, s.Image, image)
		}
		if s.Build == nil {
			if s.PullPolicy != types.PullPolicyNever {
				t.Errorf("%s pull_policy = %q, want %s: its image is built by another service", name, s.PullPolicy, types.PullPolicyNever)
			}
			continue
		}
		builders = append(builders, name)
		if s.Build.Context != root || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s build = %s %s, want %s Dockerfile", name, s.Build.Context, s.Build.Dockerfile, root)
		}
	}
	if len(builders) != 1 {
		t.Errorf("services building the image: %q, want one", builders)
	}
}

// TestComposeCommandsRun checks that each Kollektiv command line in
// compose.yaml, health checks included, is one the binary accepts with the
// service's environment: a known command, known flags and valid settings.
func TestComposeCommandsRun(t *testing.T) {
	t.Parallel()
	project := loadProject(t, nil)
	settings := map[string]bool{}
	for _, s := range config.Settings() {
		settings[s.Env] = true
	}
	for _, name := range kollektivServices {
		s := service(t, project, name)
		for variable := range s.Environment {
			if strings.HasPrefix(variable, "KOLLEKTIV_") && !settings[variable] {
				t.Errorf("%s: %s is not a Kollektiv setting", name, variable)
			}
		}
		lines := [][]string{s.Command}
		if s.HealthCheck != nil && len(s.HealthCheck.Test) > 2 {
			lines = append(lines, s.HealthCheck.Test[2:])
		}
		for _, args := range lines {
			var stdout, stderr bytes.Buffer
			code := kcli.Main(context.Background(), append(slices.Clone(args), "--help"), kcli.Env{
				Stdin:  strings.NewReader(""),
				Stdout: &stdout,
				Stderr: &stderr,
				Getenv: func(k string) string { return env(s, k) },
			})
			if code != 0 {
				t.Errorf("%s: kollektiv %s --help exited %d: %s", name, strings.Join(args, " "), code, stderr.String())
			}
		}
	}
}

// serviceConfig is the Kollektiv configuration a service's environment
// gives.
func serviceConfig(t *testing.T, s types.ServiceConfig) *config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env(s, k) })
	if err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	return cfg
}

// TestComposeEmbeddingsProfile checks the way to semantic search: without
// the embeddings profile nothing of it runs and Kollektiv embeds with the
// hashing embedder; with the profile and compose.embeddings.env, api and
// worker embed with the openai embedder through the ollama service, with
// the model that ollama-pull downloads, and start after the download.
func TestComposeEmbeddingsProfile(t *testing.T) {
	t.Parallel()
	plain := loadProject(t, nil)
	for _, name := range []string{"ollama", "ollama-pull"} {
		if _, err := plain.GetService(name); err == nil {
			t.Errorf("%s runs without the embeddings profile", name)
		}
	}
	for _, name := range longRunning {
		if cfg := serviceConfig(t, service(t, plain, name)); cfg.Embedder != "hashing" {
			t.Errorf("%s without the profile: embedder %q, want hashing", name, cfg.Embedder)
		}
	}

	envFile, err := dotenv.Read(embeddingsEnv)
	if err != nil {
		t.Fatal(err)
	}
	project := loadProject(t, envFile, "embeddings")
	ollama := service(t, project, "ollama")
	pull := service(t, project, "ollama-pull")
	if !strings.HasPrefix(ollama.Image, "ollama/ollama:") || strings.HasSuffix(ollama.Image, ":latest") || pull.Image != ollama.Image {
		t.Errorf("images: ollama %q, ollama-pull %q; want one pinned ollama/ollama tag", ollama.Image, pull.Image)
	}
	if ollama.HealthCheck == nil || ollama.HealthCheck.Disable || len(ollama.HealthCheck.Test) < 2 {
		t.Errorf("ollama health check = %+v, want one", ollama.HealthCheck)
	}
	var models bool
	for _, v := range ollama.Volumes {
		if _, ok := project.Volumes[v.Source]; ok && v.Type == types.VolumeTypeVolume && v.Target == "/root/.ollama" {
			models = true
		}
	}
	if !models {
		t.Errorf("ollama volumes = %+v, want a named volume on /root/.ollama so the model is downloaded once", ollama.Volumes)
	}
	if len(ollama.Ports) != 0 {
		t.Errorf("ollama publishes %+v; only the Kollektiv services need it", ollama.Ports)
	}
	if dep, ok := pull.DependsOn["ollama"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("ollama-pull depends_on ollama = %+v (present %t), want condition %s", dep, ok, types.ServiceConditionHealthy)
	}
	if pull.Restart != types.RestartPolicyNo {
		t.Errorf("ollama-pull restart = %q, want %q", pull.Restart, types.RestartPolicyNo)
	}
	if len(pull.Command) != 2 || pull.Command[0] != "pull" {
		t.Fatalf("ollama-pull command = %q, want pull MODEL", pull.Command)
	}
	model := pull.Command[1]
	if host := env(pull, "OLLAMA_HOST"); host != "ollama:11434" {
		t.Errorf("ollama-pull OLLAMA_HOST = %q, want the ollama service, ollama:11434", host)
	}

	for _, name := range longRunning {
		s := service(t, project, name)
		cfg := serviceConfig(t, s)
		u, err := url.Parse(cfg.OpenAIBaseURL)
		switch {
		case cfg.Embedder != "openai":
			t.Errorf("%s: embedder %q, want openai", name, cfg.Embedder)
		case err != nil || u.Host != "ollama:11434" || u.Path != "/v1":
			t.Errorf("%s: OpenAI base URL %q, want http://ollama:11434/v1, Ollama's OpenAI-compatible API", name, cfg.OpenAIBaseURL)
		case cfg.EmbeddingModel != model:
			t.Errorf("%s: embedding model %q, but ollama-pull downloads %q", name, cfg.EmbeddingModel, model)
		case cfg.EmbeddingDimensions <= 0:
			t.Errorf("%s: embedding dimensions %d; a model other than OpenAI's needs its length", name, cfg.EmbeddingDimensions)
		}
		if dep, ok := s.DependsOn["ollama-pull"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s depends_on ollama-pull = %+v (present %t), want condition %s", name, dep, ok, types.ServiceConditionCompletedSuccessfully)
		}
	}
}
