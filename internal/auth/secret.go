package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretEnv is the environment variable that overrides the secret file.
const SecretEnv = "ROOMCAST_SECRET"

// secretFile is the secret's file name under the data directory.
const secretFile = "secret"

// LoadSecret returns the server secret: $ROOMCAST_SECRET if set, else the
// secret file under dataDir. When create is true and the file is missing, a
// new random secret is written there (mode 0600).
func LoadSecret(dataDir string, create bool) ([]byte, error) {
	if v := os.Getenv(SecretEnv); v != "" {
		return []byte(v), nil
	}
	path := filepath.Join(dataDir, secretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return nil, fmt.Errorf("auth: read secret (set %s or run serve once with --data %s): %w", SecretEnv, dataDir, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("auth: generate secret: %w", err)
	}
	secret := hex.EncodeToString(raw)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create data dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("auth: write secret: %w", err)
	}
	return []byte(secret), nil
}

// Derive returns a key for one purpose (e.g. "nats") derived from the
// server secret, so the secret itself never travels: HMAC-SHA256, hex.
func Derive(secret []byte, purpose string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("roomcast/" + purpose))
	return hex.EncodeToString(m.Sum(nil))
}
