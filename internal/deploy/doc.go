// Package deploy holds no code: its tests validate the repository's
// compose.yaml and Dockerfile, which cannot be built or started where Docker
// does not run. They load compose.yaml with compose-go, as docker compose
// does, and check that the Dockerfile builds the binary with the Makefile's
// one build command.
package deploy
