// Package apikeys creates and checks API keys. A key is shown once, when it
// is created; only its SHA-256 is stored.
package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/store"
)

// keyPrefix starts every key, so a leaked one is easy to recognise.
const keyPrefix = "kol_"

// ErrUnauthorized is returned for a missing, unknown, expired or revoked
// key.
var ErrUnauthorized = errors.New("invalid API key")

// Key is a stored key, without its secret.
type Key = store.APIKey

// CreateParams describe a new key.
type CreateParams struct {
	UserID string
	Name   string
	Admin  bool
	// ExpiresAt, when set, ends the key's validity.
	ExpiresAt *time.Time
}

// Create stores a new key and returns it with its secret, which is never
// shown again.
func Create(ctx context.Context, db store.DBTX, p CreateParams) (secret string, key Key, err error) {
	if strings.TrimSpace(p.UserID) == "" {
		return "", key, errors.New("a key needs a user")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", key, fmt.Errorf("error generating key: %w", err)
	}
	secret = keyPrefix + hex.EncodeToString(raw)
	hash := sha256.Sum256([]byte(secret))
	key, err = store.New(db).CreateAPIKey(ctx, store.CreateAPIKeyParams{
		ID: uuid.New(), UserID: p.UserID, Name: p.Name, Prefix: secret[:len(keyPrefix)+8],
		KeyHash: hash[:], Admin: p.Admin, ExpiresAt: p.ExpiresAt,
	})
	if err != nil {
		return "", key, fmt.Errorf("error storing key: %w", err)
	}
	return secret, key, nil
}

// Authenticate returns the key whose secret was presented, or
// ErrUnauthorized. The lookup is by hash, and the stored hash is compared in
// constant time.
func Authenticate(ctx context.Context, db store.DBTX, secret string, now time.Time) (Key, error) {
	if !strings.HasPrefix(secret, keyPrefix) {
		return Key{}, ErrUnauthorized
	}
	hash := sha256.Sum256([]byte(secret))
	key, err := store.New(db).GetAPIKeyByHash(ctx, hash[:])
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, ErrUnauthorized
	}
	if err != nil {
		return Key{}, fmt.Errorf("error looking up key: %w", err)
	}
	if subtle.ConstantTimeCompare(key.KeyHash, hash[:]) != 1 {
		return Key{}, ErrUnauthorized
	}
	if key.RevokedAt != nil {
		return Key{}, fmt.Errorf("%w: revoked", ErrUnauthorized)
	}
	if key.ExpiresAt != nil && !now.Before(*key.ExpiresAt) {
		return Key{}, fmt.Errorf("%w: expired", ErrUnauthorized)
	}
	return key, nil
}
