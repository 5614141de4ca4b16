package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// The document's schemas, enums, error responses and examples against the
// Go types and handlers they describe.

// jsonFields returns t's JSON field names and those that are always present
// (no omitempty/omitzero).
func jsonFields(t *testing.T, typ reflect.Type) (fields []reflect.StructField, names, required []string) {
	t.Helper()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous {
			t.Errorf("%s.%s: embedded structs are not handled by this test", typ.Name(), f.Name)
			continue
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		fields = append(fields, f)
		names = append(names, name)
		optional := slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })
		if !optional {
			required = append(required, name)
		}
	}
	return fields, names, required
}

func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	schemas := obj(t, "components", obj(t, "document", doc, "components"), "schemas")
	known := map[string]bool{}
	for _, typ := range openAPITypes {
		known[typ.Name()] = true
	}
	for name := range sdkEnums {
		known[name] = true
	}
	for _, name := range sortedKeys(schemas) {
		if !known[name] {
			t.Errorf("components/schemas/%s matches no Go type this test checks; add it to openAPITypes or sdkEnums, or remove it", name)
		}
	}
	for _, typ := range openAPITypes {
		name := typ.Name()
		schema, ok := schemas[name].(jsonObj)
		if !ok {
			t.Errorf("components/schemas/%s is missing", name)
			continue
		}
		if schema["type"] != "object" {
			t.Errorf("%s: type %v; want object", name, schema["type"])
		}
		fields, names, required := jsonFields(t, typ)
		props, _ := schema["properties"].(jsonObj)
		if got, want := sortedKeys(props), slices.Sorted(slices.Values(names)); !slices.Equal(got, want) {
			t.Errorf("%s: properties %q; want the JSON fields %q", name, got, want)
		}
		slices.Sort(required)
		if got := stringList(schema["required"]); !slices.Equal(got, required) {
			t.Errorf("%s: required %q; want the fields without omitempty/omitzero %q", name, got, required)
		}
		for i, f := range fields {
			if prop, ok := props[names[i]].(jsonObj); ok {
				checkPropertyType(t, name+"."+names[i], f.Type, prop, schemas, known)
			}
		}
	}
}

// checkPropertyType checks a property's schema against its Go type: named
// structs and named strings are $refs to their component, time.Time is a
// date-time string, slices are arrays of their element.
func checkPropertyType(t *testing.T, where string, typ reflect.Type, prop, schemas jsonObj, known map[string]bool) {
	t.Helper()
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	ref, _ := prop["$ref"].(string)
	wantRef := func() {
		if ref != "#/components/schemas/"+typ.Name() {
			t.Errorf("%s: $ref %q; want #/components/schemas/%s", where, ref, typ.Name())
		} else if !known[typ.Name()] {
			t.Errorf("%s: %s is not a checked type", where, typ.Name())
		}
	}
	wantType := func(want string) {
		if prop["type"] != want {
			t.Errorf("%s: type %v; want %s (Go %s)", where, prop["type"], want, typ)
		}
	}
	switch {
	case typ == reflect.TypeFor[time.Time]():
		wantType("string")
		if prop["format"] != "date-time" {
			t.Errorf("%s: format %v; want date-time", where, prop["format"])
		}
	case typ.Kind() == reflect.Struct:
		wantRef()
	case typ.Kind() == reflect.String && typ.PkgPath() != "":
		wantRef()
		if s, _ := schemas[typ.Name()].(jsonObj); s == nil || s["type"] != "string" {
			t.Errorf("%s: components/schemas/%s must be a string enum", where, typ.Name())
		}
	case typ.Kind() == reflect.String:
		wantType("string")
	case typ.Kind() == reflect.Bool:
		wantType("boolean")
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		wantType("integer")
	case typ.Kind() == reflect.Float32 || typ.Kind() == reflect.Float64:
		wantType("number")
	case typ.Kind() == reflect.Slice:
		wantType("array")
		items, ok := prop["items"].(jsonObj)
		if !ok {
			t.Errorf("%s: array without items", where)
			return
		}
		checkPropertyType(t, where+"[]", typ.Elem(), items, schemas, known)
	default:
		t.Errorf("%s: Go type %s is not handled by this test", where, typ)
	}
}

func TestOpenAPIEnums(t *testing.T) {
	doc := loadOpenAPI(t)
	schemas := obj(t, "components", obj(t, "document", doc, "components"), "schemas")
	for name, values := range sdkEnums {
		s, ok := schemas[name].(jsonObj)
		if !ok {
			t.Errorf("components/schemas/%s is missing", name)
			continue
		}
		want := slices.Sorted(slices.Values(values))
		if got := stringList(s["enum"]); s["type"] != "string" || !slices.Equal(got, want) {
			t.Errorf("%s: type %v enum %q; want string enum %q", name, s["type"], got, want)
		}
	}
	code := obj(t, "Error.properties", obj(t, "Error", schemas["Error"], "properties"), "code")
	var want []string
	for _, c := range openAPICodes {
		want = append(want, string(c))
	}
	slices.Sort(want)
	if got := stringList(code["enum"]); !slices.Equal(got, want) {
		t.Errorf("Error.code enum %q; want the rcerr codes %q", got, want)
	}
	// rtmpURLs is bounded like the validation.
	rtmp := obj(t, "StartParams.properties", obj(t, "StartParams", schemas["StartParams"], "properties"), "rtmpURLs")
	if rtmp["maxItems"] != 3.0 {
		t.Errorf("StartParams.rtmpURLs maxItems %v; want 3", rtmp["maxItems"])
	}
}

// errorCodeOf returns the code an error response pins with
// allOf[{$ref Error}, {properties: {code: {const}}}].
func errorCodeOf(t *testing.T, where string, schema jsonObj) string {
	t.Helper()
	all, _ := schema["allOf"].([]any)
	var refsError bool
	var code string
	for _, part := range all {
		p, _ := part.(jsonObj)
		if p["$ref"] == "#/components/schemas/Error" {
			refsError = true
		}
		if props, ok := p["properties"].(jsonObj); ok {
			if c, ok := props["code"].(jsonObj); ok {
				code, _ = c["const"].(string)
			}
		}
	}
	if !refsError || code == "" {
		t.Errorf("%s: error schema must be allOf [Error, {properties: {code: {const}}}]", where)
	}
	return code
}

func TestOpenAPIResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	for key, op := range operations(t, doc) {
		for status, r := range obj(t, key, op, "responses") {
			where := key + " " + status
			resp := resolve(t, doc, r)
			content := obj(t, where, resp, "content")
			if _, isJSON := content["application/json"]; !isJSON && strings.HasPrefix(status, "2") && len(content) == 1 {
				// A file or a picture: one media type of its own, its bytes.
				for mt, m := range content {
					if sch, _ := m.(jsonObj)["schema"].(jsonObj); sch["format"] != "binary" {
						t.Errorf("%s: %s must be a binary string", where, mt)
					}
				}
				continue
			}
			media := obj(t, where, content, "application/json")
			schema, _ := media["schema"].(jsonObj)
			if schema == nil {
				t.Errorf("%s: no schema", where)
				continue
			}
			if status == "default" {
				if schema["$ref"] != "#/components/schemas/Error" {
					t.Errorf("%s: default response must be an Error", where)
				}
				continue
			}
			n, err := strconv.Atoi(status)
			if err != nil {
				t.Errorf("%s: status is not a number", where)
				continue
			}
			if n < 400 {
				continue
			}
			code := errorCodeOf(t, where, schema)
			if got := rcerr.Code(code).HTTPStatus(); got != n || !slices.Contains(openAPICodes, rcerr.Code(code)) {
				t.Errorf("%s: code %q is answered with HTTP %d, not %d", where, code, got, n)
			}
			if ex, ok := media["example"]; ok {
				var e roomcast.Error
				b, _ := json.Marshal(ex)
				if err := strictDecode(b, &e); err != nil || e.Code != code || e.Message == "" {
					t.Errorf("%s: example %s is not an Error with code %q (%v)", where, b, code, err)
				}
			}
		}
	}
}

func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// TestOpenAPIExamples decodes every example of a schema named after a Go
// type into that type, rejecting unknown fields.
func TestOpenAPIExamples(t *testing.T) {
	doc := loadOpenAPI(t)
	types := map[string]reflect.Type{}
	for _, typ := range openAPITypes {
		types["#/components/schemas/"+typ.Name()] = typ
	}
	n := 0
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case jsonObj:
			if ex, ok := v["example"]; ok {
				if s, ok := v["schema"].(jsonObj); ok {
					ref, _ := s["$ref"].(string)
					if typ, ok := types[ref]; ok {
						b, _ := json.Marshal(ex)
						if err := strictDecode(b, reflect.New(typ).Interface()); err != nil {
							t.Errorf("%s: example is not a %s: %v", where, typ.Name(), err)
						}
						n++
					}
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
	if n == 0 {
		t.Error("no examples checked")
	}
}
