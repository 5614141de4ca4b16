// Package contract is the one source of the API's names and shapes: the Go
// SDK (sdk/roomcast). Its enums are read from the SDK's source (every
// typed string constant, and the Code* and Event* groups), its wire types
// by reflection; the browser SDK's TypeScript declarations are generated
// from them (TypeScript, written by `go generate ./internal/web`), and the
// OpenAPI document and the browser SDK's enums are checked against them.
package contract

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Enum is one enum of the contract: its name and its constants in source
// order.
type Enum struct {
	Name   string
	Values []Value
}

// Value is one constant: its Go name and its value.
type Value struct {
	GoName, Value string
}

// JSKey is the constant's key in the browser SDK's frozen enum objects:
// the Go name less the enum's prefix, in upper snake case
// (RecordingStateStarting → STARTING, CodeInvalidArgument →
// INVALID_ARGUMENT).
func (v Value) JSKey(prefix string) string {
	name := strings.TrimPrefix(v.GoName, prefix)
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// untypedGroups name the SDK's blocks of untyped string constants by the
// prefix every name in the block has.
var untypedGroups = map[string]string{"Code": "ErrorCode", "Event": "EventName"}

// JSEnums are the enums the browser SDK exports as frozen objects, each
// with its constants' Go name prefix.
var JSEnums = map[string]string{"RecordingState": "RecordingState", "StreamingState": "StreamingState", "ErrorCode": "Code"}

// SDKDir is the Go SDK's directory, found from the working directory up
// (tests run in their package's directory, go generate in the module).
func SDKDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "sdk", "roomcast"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("contract: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Enums reads the enums from the SDK's source in dir, sorted by name.
func Enums(dir string) ([]Enum, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	stringTypes := map[string]bool{}
	var consts []*ast.ValueSpec
	untyped := map[*ast.ValueSpec]string{} // the group of a spec in an all-Code*/Event* block
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			return nil, fmt.Errorf("contract: %w", err)
		}
		for _, d := range file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range g.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if id, ok := s.Type.(*ast.Ident); ok && id.Name == "string" {
						stringTypes[s.Name.Name] = true
					}
				case *ast.ValueSpec:
					if g.Tok == token.CONST {
						consts = append(consts, s)
					}
				}
			}
			if g.Tok == token.CONST {
				if group := untypedGroup(g); group != "" {
					for _, s := range g.Specs {
						untyped[s.(*ast.ValueSpec)] = group
					}
				}
			}
		}
	}
	byName := map[string]*Enum{}
	for _, s := range consts {
		enum := ""
		if id, ok := s.Type.(*ast.Ident); ok && stringTypes[id.Name] {
			enum = id.Name
		} else {
			enum = untyped[s]
		}
		if enum == "" || len(s.Values) != len(s.Names) {
			continue
		}
		for i, n := range s.Names {
			lit, ok := s.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				return nil, fmt.Errorf("contract: %s: %w", n.Name, err)
			}
			if byName[enum] == nil {
				byName[enum] = &Enum{Name: enum}
			}
			byName[enum].Values = append(byName[enum].Values, Value{GoName: n.Name, Value: v})
		}
	}
	out := make([]Enum, 0, len(byName))
	for _, e := range byName {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// untypedGroup names a const block of untyped constants that all have one
// of untypedGroups' prefixes ("" for any other block).
func untypedGroup(g *ast.GenDecl) string {
	for p, name := range untypedGroups {
		all := len(g.Specs) > 0
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			for _, n := range v.Names {
				all = all && v.Type == nil && strings.HasPrefix(n.Name, p)
			}
		}
		if all {
			return name
		}
	}
	return ""
}

// Values returns enum's values from enums (nil when there is no such enum).
func Values(enums []Enum, enum string) []string {
	for _, e := range enums {
		if e.Name == enum {
			var v []string
			for _, c := range e.Values {
				v = append(v, c.Value)
			}
			return v
		}
	}
	return nil
}

// WireTypes are the SDK's types that go over the API (HTTP bodies, room
// state, webhooks): the OpenAPI document has a schema for each.
var WireTypes = []reflect.Type{
	reflect.TypeFor[roomcast.StartParams](),
	reflect.TypeFor[roomcast.Resolution](),
	reflect.TypeFor[roomcast.BeamState](),
	reflect.TypeFor[roomcast.RTMPState](),
	reflect.TypeFor[roomcast.Destination](),
	reflect.TypeFor[roomcast.DestinationError](),
	reflect.TypeFor[roomcast.RecordingStates](),
	reflect.TypeFor[roomcast.RecordingStatus](),
	reflect.TypeFor[roomcast.Error](),
	reflect.TypeFor[roomcast.Recording](),
	reflect.TypeFor[roomcast.RecordingFile](),
	reflect.TypeFor[roomcast.Health](),
	reflect.TypeFor[roomcast.Worker](),
	reflect.TypeFor[roomcast.WorkerJob](),
	reflect.TypeFor[roomcast.WorkerCPU](),
	reflect.TypeFor[roomcast.WorkerMemory](),
	reflect.TypeFor[roomcast.Room](),
	reflect.TypeFor[roomcast.RoomPeer](),
	reflect.TypeFor[roomcast.DestinationParams](),
	reflect.TypeFor[roomcast.LayoutParams](),
	reflect.TypeFor[roomcast.TokenRequest](),
	reflect.TypeFor[roomcast.TokenResponse](),
	reflect.TypeFor[roomcast.FileLink](),
	reflect.TypeFor[roomcast.Session](),
}

// Field is one JSON field of a wire type.
type Field struct {
	Name     string // the JSON name
	Type     reflect.Type
	Optional bool // omitempty / omitzero, or a pointer
}

// Fields returns t's JSON fields in order.
func Fields(t reflect.Type) []Field {
	var out []Field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		opt := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero") || f.Type.Kind() == reflect.Pointer
		out = append(out, Field{Name: name, Type: f.Type, Optional: opt})
	}
	return out
}
