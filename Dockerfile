# syntax=docker/dockerfile:1

# Kollektiv's image: one static binary on a distroless base, running as a
# non-root user. compose.yaml builds it once and runs every service from it
# (`migrate up`, `api`, `worker`); the default command is `serve`, the API and
# the workers in one process.

# --- build: the Makefile's build command, nothing else ----------------------
FROM golang:1.26 AS build
WORKDIR /src

# Modules first, in a layer of their own: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
# The same command as the Makefile's BUILD (internal/deploy's test keeps the
# two equal). CGO_ENABLED=0 makes the binary static, so it needs no libc in
# the final image. The compiler's cache is a cache mount: it speeds rebuilds
# and stays out of the image.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -o bin/kollektiv ./cmd/kollektiv

# --- final: the binary alone -------------------------------------------------
# distroless/static has no shell and no package manager, but has what a
# static Go binary calling HTTPS APIs needs: CA certificates, tzdata and
# /etc/passwd with the nonroot user (uid 65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/kollektiv /usr/local/bin/kollektiv

# Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
WORKDIR /home/nonroot

# Settings come from the environment (DATABASE_URL, KOLLEKTIV_*; see
# `kollektiv config`). The API listens on :8080 unless KOLLEKTIV_HTTP_ADDR says
# otherwise.
ENV KOLLEKTIV_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kollektiv"]
CMD ["serve"]
