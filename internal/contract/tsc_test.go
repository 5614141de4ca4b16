package contract

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TypeScript itself (tsc --strict, from npm: make setup puts it in
// .tools) takes an app written against /sdk/roomcast.d.ts that uses every
// action and selector, and refuses its mistakes (@ts-expect-error lines
// that compiled would fail it): the declarations are what an app can
// type-check against, not only valid syntax.
func TestDeclarationsTypeCheckWithTSC(t *testing.T) {
	root, err := SDKDir()
	if err != nil {
		t.Fatal(err)
	}
	tsc := filepath.Join(root, "..", "..", ".tools", "node_modules", "typescript", "bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("TypeScript is not installed (make setup installs it with npm into .tools): %v", err)
		}
		t.Skip("TypeScript is not installed: make setup installs it into .tools")
	}
	dir := t.TempDir()
	for _, f := range []string{"roomcast.d.ts", "roomcast.js"} {
		copyFile(t, filepath.Join("..", "web", "static", "sdk", f), filepath.Join(dir, f))
	}
	copyFile(t, filepath.Join("testdata", "usage.ts"), filepath.Join(dir, "usage.ts"))
	cmd := exec.Command("node", tsc, "--strict", "--noEmit", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler",
		"--lib", "es2022,dom", filepath.Join(dir, "usage.ts"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
