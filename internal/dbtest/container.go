package dbtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// containerImage is PostgreSQL with pgvector, as compose.yaml uses.
const containerImage = "pgvector/pgvector:pg17"

// startContainer starts a pgvector container when a Docker engine answers.
// The container lives as long as the test process (Ryuk removes it after).
func startContainer(ctx context.Context) (string, error) {
	if os.Getenv("KOLLEKTIV_TEST_NO_DOCKER") != "" {
		return "", errors.New("containers disabled by KOLLEKTIV_TEST_NO_DOCKER")
	}
	if !dockerAvailable(ctx) {
		return "", errors.New("no Docker engine available")
	}
	container, err := tcpostgres.Run(ctx, containerImage,
		tcpostgres.WithDatabase("postgres"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept connections").
			WithOccurrence(2).WithStartupTimeout(2*time.Minute)),
	)
	if err != nil {
		return "", fmt.Errorf("error starting %s: %w", containerImage, err)
	}
	return container.ConnectionString(ctx, "sslmode=disable")
}

func dockerAvailable(ctx context.Context) (ok bool) {
	defer func() {
		// testcontainers panics when it finds no Docker host at all.
		if recover() != nil {
			ok = false
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	provider, err := testcontainers.NewDockerProvider()
	if err != nil {
		return false
	}
	defer func() { _ = provider.Close() }()
	return provider.Health(ctx) == nil
}
