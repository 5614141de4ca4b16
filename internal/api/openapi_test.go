package api

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/contract"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// openAPIRoutes is every pattern Register adds, each with a sample request
// that must route to exactly that pattern. This list MUST GROW WITH
// Register: a route added there and not here fails
// TestOpenAPIRouteListMatchesRegister, and a documented route must be here
// (and a route here must be documented) or TestOpenAPIPathsMatchRoutes fails.
var openAPIRoutes = []struct {
	pattern      string // exactly as given to mux.HandleFunc
	method, path string // a sample request for it
	documented   bool   // false only for the /v1/ catch-all 404
}{
	{"POST /v1/rooms/{room}/beam/start", "POST", "/v1/rooms/demo/beam/start", true},
	{"POST /v1/rooms/{room}/beam/stop", "POST", "/v1/rooms/demo/beam/stop", true},
	{"GET /v1/rooms/{room}/beam", "GET", "/v1/rooms/demo/beam", true},
	{"POST /v1/rooms/{room}/track-recording/start", "POST", "/v1/rooms/demo/track-recording/start", true},
	{"POST /v1/rooms/{room}/track-recording/stop", "POST", "/v1/rooms/demo/track-recording/stop", true},
	{"GET /v1/openapi.json", "GET", "/v1/openapi.json", true},
	{"GET /v1/recordings", "GET", "/v1/recordings", true},
	{"GET /v1/recordings/{id}", "GET", "/v1/recordings/0123456789abcdef01234567", true},
	{"GET /v1/recordings/{id}/files/{name}", "GET", "/v1/recordings/0123456789abcdef01234567/files/composite.mp4", true},
	{"DELETE /v1/recordings/{id}", "DELETE", "/v1/recordings/0123456789abcdef01234567", true},
	{"POST /v1/rooms/{room}/beam/destinations", "POST", "/v1/rooms/demo/beam/destinations", true},
	{"DELETE /v1/rooms/{room}/beam/destinations/{index}", "DELETE", "/v1/rooms/demo/beam/destinations/1", true},
	{"GET /v1/rooms/{room}/beam/thumbnail.jpg", "GET", "/v1/rooms/demo/beam/thumbnail.jpg", true},
	{"POST /v1/rooms/{room}/beam/layout", "POST", "/v1/rooms/demo/beam/layout", true},
	{"GET /v1/rooms", "GET", "/v1/rooms", true},
	{"GET /v1/workers", "GET", "/v1/workers", true},
	{"POST /v1/workers/{id}/drain", "POST", "/v1/workers/host-1-4242/drain", true},
	{"POST /v1/tokens", "POST", "/v1/tokens", true},
	{"GET /v1/session", "GET", "/v1/session", true},
	{"POST /v1/recordings/{id}/files/{name}/link", "POST", "/v1/recordings/0123456789abcdef01234567/files/composite.mp4/link", true},
	{"/v1/", "GET", "/v1/no-such-route", false},
}

// openAPIFallback is the catch-all pattern that answers 404 for the rest of /v1.
const openAPIFallback = "/v1/"

// openAPITypes are the Go wire types whose component schemas (named like the
// type) must match their JSON fields: the contract's.
var openAPITypes = contract.WireTypes

// sdkEnums are the string enums of the Go SDK's source: each is a schema
// named like its type with the constants' values, except the error codes
// (Error.code's enum) and the webhook event names (in no schema).
var sdkEnums, openAPICodes = func() (map[string][]string, []rcerr.Code) {
	dir, err := contract.SDKDir()
	if err != nil {
		panic(err)
	}
	enums, err := contract.Enums(dir)
	if err != nil {
		panic(err)
	}
	out := map[string][]string{}
	var codes []rcerr.Code
	for _, e := range enums {
		switch e.Name {
		case "ErrorCode":
			for _, v := range contract.Values(enums, e.Name) {
				codes = append(codes, rcerr.Code(v))
			}
		case "EventName":
		default:
			out[e.Name] = contract.Values(enums, e.Name)
		}
	}
	return out, codes
}()

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

type jsonObj = map[string]any

func loadOpenAPI(t *testing.T) jsonObj {
	t.Helper()
	var doc jsonObj
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

func newOpenAPIMux(t *testing.T, signer *auth.Signer) *http.ServeMux {
	t.Helper()
	recs, err := recordings.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	New(nil, nil, signer, slog.New(slog.DiscardHandler)).WithRecordings(recordings.Local{Store: recs}).WithWorkers(noWorkers{}).
		WithRoomList(func(context.Context) []roomcast.Room { return nil }).WithDestinations(noDestinations{}).
		WithThumbnails(noDestinations{}).Register(mux)
	return mux
}

// noWorkers is a fleet with no worker.
type noWorkers struct{}

func (noWorkers) Workers() []roomcast.Worker { return []roomcast.Worker{} }

func (noWorkers) DrainWorker(_ context.Context, id string) (roomcast.Worker, error) {
	return roomcast.Worker{}, rcerr.New(rcerr.NotFound, "no worker %q is running", id)
}

// obj returns v[key] as an object, failing the test otherwise.
func obj(t *testing.T, where string, v any, key string) jsonObj {
	t.Helper()
	m, _ := v.(jsonObj)
	o, ok := m[key].(jsonObj)
	if !ok {
		t.Fatalf("%s: %q is missing or not an object", where, key)
	}
	return o
}

// resolve follows a local "$ref" (JSON pointer) in v, repeatedly.
func resolve(t *testing.T, doc jsonObj, v any) jsonObj {
	t.Helper()
	for range 10 {
		m, ok := v.(jsonObj)
		if !ok {
			t.Fatalf("not an object: %v", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		target, err := pointer(doc, ref)
		if err != nil {
			t.Fatal(err)
		}
		v = target
	}
	t.Fatalf("$ref chain too long at %v", v)
	return nil
}

func pointer(doc jsonObj, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, &refError{ref}
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(jsonObj)
		if !ok {
			return nil, &refError{ref}
		}
		if cur, ok = m[tok]; !ok {
			return nil, &refError{ref}
		}
	}
	return cur, nil
}

type refError struct{ ref string }

func (e *refError) Error() string { return "$ref " + e.ref + " does not resolve in the document" }

// operations returns "METHOD path" → operation for every documented operation.
func operations(t *testing.T, doc jsonObj) map[string]jsonObj {
	t.Helper()
	ops := map[string]jsonObj{}
	for path, item := range obj(t, "document", doc, "paths") {
		for _, m := range openAPIMethods {
			if op, ok := item.(jsonObj)[m]; ok {
				ops[strings.ToUpper(m)+" "+path] = op.(jsonObj)
			}
		}
	}
	return ops
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func stringList(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	slices.Sort(out)
	return out
}

func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		t.Errorf("openapi = %q; want 3.1.x", v)
	}
	info := obj(t, "document", doc, "info")
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info needs title and version: %v", info)
	}
	// Every $ref must resolve.
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case jsonObj:
			if ref, ok := v["$ref"].(string); ok {
				if _, err := pointer(doc, ref); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			}
			for k, c := range v {
				walk(where+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(where+"/"+strconv.Itoa(i), c)
			}
		}
	}
	walk("#", doc)
	// Every operation has an id and responses; ids are unique.
	ids := map[string]string{}
	for key, op := range operations(t, doc) {
		id, _ := op["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", key)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s: operationId %q also used by %s", key, id, other)
		}
		ids[id] = key
		if len(obj(t, key, op, "responses")) == 0 {
			t.Errorf("%s: no responses", key)
		}
	}
}

func TestOpenAPIPathsMatchRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	mux := newOpenAPIMux(t, nil)
	var want []string
	samples := map[string]string{} // documented path → sample request path
	for _, r := range openAPIRoutes {
		req := httptest.NewRequest(r.method, r.path, nil)
		if _, got := mux.Handler(req); got != r.pattern {
			t.Errorf("%s %s routes to %q; want %q (is it registered in Register?)", r.method, r.path, got, r.pattern)
		}
		if !r.documented {
			continue
		}
		method, path, ok := strings.Cut(r.pattern, " ")
		if !ok {
			t.Errorf("documented pattern %q has no method", r.pattern)
			continue
		}
		if method != r.method {
			t.Errorf("pattern %q: sample method %s differs", r.pattern, r.method)
		}
		want = append(want, r.pattern)
		samples[path] = r.path
	}
	slices.Sort(want)
	ops := operations(t, doc)
	if got := sortedKeys(ops); !slices.Equal(got, want) {
		t.Errorf("documented operations %q\nwant exactly the registered routes %q", got, want)
	}

	paramRe := regexp.MustCompile(`\{([^}]+)\}`)
	for key, op := range ops {
		_, path, _ := strings.Cut(key, " ")
		// Methods not documented for a path must not reach a documented
		// handler: they fall through to the /v1/ catch-all.
		if sample, ok := samples[path]; ok {
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
				if _, documented := ops[m+" "+path]; documented {
					continue
				}
				if _, got := mux.Handler(httptest.NewRequest(m, sample, nil)); got != openAPIFallback {
					t.Errorf("%s %s routes to %q but is not documented", m, sample, got)
				}
			}
		}
		// Path parameters are declared, required, in the path.
		var wantParams, gotParams []string
		for _, m := range paramRe.FindAllStringSubmatch(path, -1) {
			wantParams = append(wantParams, m[1])
		}
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			p := resolve(t, doc, p)
			if p["in"] == "path" {
				gotParams = append(gotParams, p["name"].(string))
				if p["required"] != true {
					t.Errorf("%s: path parameter %v must be required", key, p["name"])
				}
			}
		}
		slices.Sort(wantParams)
		slices.Sort(gotParams)
		if !slices.Equal(gotParams, wantParams) {
			t.Errorf("%s: path parameters %q; want %q", key, gotParams, wantParams)
		}
	}
}

// TestOpenAPIRouteListMatchesRegister reads the package's source so that a
// route added to Register without adding it to openAPIRoutes fails.
func TestOpenAPIRouteListMatchesRegister(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var inSource []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: route pattern is not a string literal; list it in openAPIRoutes and adapt this test", fset.Position(call.Pos()))
				return true
			}
			pattern, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			inSource = append(inSource, pattern)
			return true
		})
	}
	var listed []string
	for _, r := range openAPIRoutes {
		listed = append(listed, r.pattern)
	}
	slices.Sort(inSource)
	slices.Sort(listed)
	if !slices.Equal(inSource, listed) {
		t.Errorf("patterns registered in the source %q\ndiffer from openAPIRoutes %q; update openAPIRoutes and openapi.json", inSource, listed)
	}
}

// TestOpenAPIAuth checks the documented security against the handlers: with
// no token, protected routes answer a documented 401 and open ones do not;
// with a join token for another room, protected routes answer a documented
// 403 (both before any dependency is used).
func TestOpenAPIAuth(t *testing.T) {
	doc := loadOpenAPI(t)
	signer, err := auth.NewSigner([]byte("openapi-test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	otherRoom, err := signer.JoinToken("not-demo", "someone", room.Host, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newOpenAPIMux(t, signer))
	defer srv.Close()
	ops := operations(t, doc)
	for _, r := range openAPIRoutes {
		if !r.documented {
			continue
		}
		op := ops[r.pattern]
		if op == nil {
			continue // reported by TestOpenAPIPathsMatchRoutes
		}
		responses := obj(t, r.pattern, op, "responses")
		sec, hasSec := op["security"].([]any)
		open := hasSec && len(sec) == 0
		do := func(token string) (int, roomcast.Error) {
			req, _ := http.NewRequest(r.method, srv.URL+r.path, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e roomcast.Error
			b, _ := io.ReadAll(resp.Body)
			json.Unmarshal(b, &e)
			if _, documented := responses[strconv.Itoa(resp.StatusCode)]; !documented {
				t.Errorf("%s: answered %d %s, which is not documented", r.pattern, resp.StatusCode, b)
			}
			return resp.StatusCode, e
		}
		status, e := do("")
		switch {
		case open && status == http.StatusUnauthorized:
			t.Errorf("%s: documented as needing no token but answers 401", r.pattern)
		case !open && (status != http.StatusUnauthorized || e.Code != string(rcerr.Unauthenticated)):
			t.Errorf("%s: needs a token but answers %d %q without one", r.pattern, status, e.Code)
		}
		if !open {
			if status, e := do(otherRoom); status != http.StatusForbidden || e.Code != string(rcerr.PermissionDenied) {
				t.Errorf("%s: a token for another room answers %d %q; want 403 permission_denied", r.pattern, status, e.Code)
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	srv := httptest.NewServer(newOpenAPIMux(t, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; want 200", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		t.Errorf("Content-Type %q; want application/json", resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, openAPI) {
		t.Error("served document differs from the embedded openapi.json")
	}
	var served, embedded any
	if err := json.Unmarshal(body, &served); err != nil {
		t.Fatalf("served document is not JSON: %v", err)
	}
	json.Unmarshal(openAPI, &embedded)
	if !reflect.DeepEqual(served, embedded) {
		t.Error("served document differs from the embedded openapi.json")
	}
}

type noDestinations struct{}

func (noDestinations) AddDestination(context.Context, string, string) (roomcast.BeamState, error) {
	return roomcast.BeamState{}, nil
}

func (noDestinations) RemoveDestination(context.Context, string, int) (roomcast.BeamState, error) {
	return roomcast.BeamState{}, nil
}

func (noDestinations) Thumbnail(context.Context, string) ([]byte, error) { return nil, nil }

func (noDestinations) SetLayout(context.Context, string, roomcast.Layout) (roomcast.BeamState, error) {
	return roomcast.BeamState{}, nil
}
