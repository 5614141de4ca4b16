// Command gen writes the browser SDK's TypeScript declarations from the Go
// SDK: `go generate ./internal/web` runs it in internal/web.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/roomcast/roomcast/internal/contract"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := contract.SDKDir()
	if err != nil {
		return err
	}
	enums, err := contract.Enums(dir)
	if err != nil {
		return err
	}
	out := filepath.Join(filepath.Dir(filepath.Dir(dir)), "internal", "web", "static", "sdk", "roomcast.d.ts")
	return os.WriteFile(out, []byte(contract.TypeScript(enums)), 0o644)
}
