package contract

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/evanw/esbuild/pkg/api"
)

func sdkEnums(t *testing.T) []Enum {
	t.Helper()
	dir, err := SDKDir()
	if err != nil {
		t.Fatal(err)
	}
	enums, err := Enums(dir)
	if err != nil {
		t.Fatal(err)
	}
	return enums
}

func readSDK(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "web", "static", "sdk", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The enums come from the Go SDK's source: a constant added there is in
// the contract without another list to keep.
func TestEnumsAreReadFromTheGoSDK(t *testing.T) {
	enums := sdkEnums(t)
	for name, want := range map[string][]string{
		"RecordingState":   {"none", "starting", "started", "stopped", "failed"},
		"DestinationState": {"starting", "started", "reconnecting", "failed", "stopped"},
		"ErrorCode":        {"invalid_argument", "unauthenticated", "permission_denied", "not_found", "conflict", "resource_exhausted", "unavailable", "destination", "internal"},
		"EventName":        {"beam.started", "beam.stopped", "beam.failed", "beam.destination.failed", "beam.destination.added", "beam.destination.removed", "beam.warning", "recording.ready"},
	} {
		if got := Values(enums, name); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if v := (Value{GoName: "CodeInvalidArgument"}).JSKey("Code"); v != "INVALID_ARGUMENT" {
		t.Errorf("JSKey = %q", v)
	}
}

// roomcast.d.ts is what the generator makes of the Go SDK now (run `go
// generate ./internal/web` after changing it), and it is valid TypeScript.
func TestDeclarationsAreGenerated(t *testing.T) {
	want := TypeScript(sdkEnums(t))
	if got := readSDK(t, "roomcast.d.ts"); got != want {
		t.Error("internal/web/static/sdk/roomcast.d.ts is not what the Go SDK generates: run go generate ./internal/web")
	}
	res := api.Transform(want, api.TransformOptions{Loader: api.LoaderTS})
	for _, m := range res.Errors {
		line := 0
		if m.Location != nil {
			line = m.Location.Line
		}
		t.Errorf("roomcast.d.ts:%d: %s", line, m.Text)
	}
}

// The browser SDK's frozen enums carry the Go SDK's values, key by key.
func TestJSEnumsMatchTheGoSDK(t *testing.T) {
	js := readSDK(t, "roomcast.js")
	enums := sdkEnums(t)
	for name, prefix := range JSEnums {
		m := regexp.MustCompile(`export const ` + name + ` = Object\.freeze\(\{([^}]*)\}\)`).FindStringSubmatch(js)
		if m == nil {
			t.Errorf("roomcast.js does not export %s as a frozen object", name)
			continue
		}
		got := map[string]string{}
		for _, kv := range regexp.MustCompile(`([A-Z_]+):\s*'([^']*)'`).FindAllStringSubmatch(m[1], -1) {
			got[kv[1]] = kv[2]
		}
		want := map[string]string{}
		for _, e := range enums {
			if e.Name == name {
				for _, v := range e.Values {
					want[v.JSKey(prefix)] = v.Value
				}
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("roomcast.js %s = %v; the Go SDK has %v", name, got, want)
		}
	}
}

// Every export of roomcast.js is declared and every declaration exported,
// and the declared actions are the client's.
func TestDeclarationsCoverTheJSAPI(t *testing.T) {
	js, dts := readSDK(t, "roomcast.js"), readSDK(t, "roomcast.d.ts")
	names := func(re, s string) []string {
		var out []string
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	exported := names(`(?m)^export (?:const|function|class) (\w+)`, js)
	declared := names(`(?m)^export declare (?:const|function|class) (\w+)`, dts)
	if !slices.Equal(exported, declared) {
		t.Errorf("roomcast.js exports %v; roomcast.d.ts declares %v", exported, declared)
	}
	block := regexp.MustCompile(`(?s)client\.actions = \{(.*?)\n  \};`).FindStringSubmatch(js)
	if block == nil {
		t.Fatal("roomcast.js has no client.actions = {…}")
	}
	actions := names(`(?m)^\s+(\w+)[,:]`, block[1])
	if want := ActionNames(); !slices.Equal(actions, want) {
		t.Errorf("roomcast.js actions %v; declared %v", actions, want)
	}
	if !strings.Contains(dts, "export interface BeamState") {
		t.Error("roomcast.d.ts has no BeamState")
	}
}
