package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type openapiDocJSON struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T, f *fixture) openapiDocJSON {
	t.Helper()
	res, body := f.get("/api/v1/openapi.json", "")
	if res.StatusCode != 200 {
		t.Fatalf("GET /api/v1/openapi.json: %d", res.StatusCode)
	}
	var doc openapiDocJSON
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestOpenAPI keeps the document true: every route the API serves is in
// it with its method and scope, the routes other packages mount are too,
// and real answers of the main routes fit their schemas.
func TestOpenAPI(t *testing.T) {
	f := newFixture(t)
	doc := loadOpenAPI(t, f)
	if len(f.server.scopes) < 14 {
		t.Fatalf("only %d API routes recorded", len(f.server.scopes))
	}
	for pattern, scope := range f.server.scopes {
		method, path, _ := strings.Cut(pattern, " ")
		op, ok := doc.Paths[path][strings.ToLower(method)]
		if !ok {
			t.Errorf("%s is not in openapi.json", pattern)
			continue
		}
		var o struct {
			Scope string `json:"x-scope"`
		}
		json.Unmarshal(op, &o)
		if o.Scope != scope {
			t.Errorf("%s: x-scope %q, the route asks for %q", pattern, o.Scope, scope)
		}
	}
	for _, mounted := range []string{"GET /api/v1/agents/{id}/freebusy", "POST /api/v1/agents/{id}/freebusy/sync",
		"GET /api/v1/agents/{id}/feed", "POST /api/v1/agents/{id}/feed/rotate", "POST /api/v1/users/unlock", "GET /api/v1/lookup"} {
		method, path, _ := strings.Cut(mounted, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("mounted route %s is not in openapi.json", mounted)
		}
	}
	for path := range doc.Paths {
		found := false
		for pattern := range f.server.scopes {
			if strings.HasSuffix(pattern, " "+path) {
				found = true
			}
		}
		if !found && !slices.Contains([]string{"/api/v1/agents/{id}/freebusy", "/api/v1/agents/{id}/freebusy/sync", "/api/v1/agents/{id}/feed",
			"/api/v1/agents/{id}/feed/rotate", "/api/v1/users/unlock", "/api/v1/lookup", "/api/v1/openapi.json"}, path) {
			t.Errorf("openapi.json documents %s, which nothing serves", path)
		}
	}

	// Real answers against their schemas.
	res := f.ingest(inMail{from: "c@customer.example", subject: "Help"})
	id := strconv.FormatInt(res.TicketID, 10)
	check := func(schema, path, token string) {
		t.Helper()
		resp, body := f.get(path, token)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if err := validate(doc, map[string]any{"$ref": "#/components/schemas/" + schema}, v, path); err != nil {
			t.Errorf("%s does not fit %s: %v", path, schema, err)
		}
	}
	check("TicketWithMessages", "/api/v1/tickets/"+id, f.tokenA)
	check("Message", "/api/v1/messages/"+strconv.FormatInt(res.MessageID, 10), f.tokenA)
	_, body := f.get("/api/v1/events", f.tokenA)
	var page struct{ Events []any }
	json.Unmarshal(body, &page)
	for _, e := range page.Events {
		if err := validate(doc, map[string]any{"$ref": "#/components/schemas/Event"}, e, "event"); err != nil {
			t.Errorf("event: %v", err)
		}
	}
	resp, body := f.do(http.MethodPost, "/api/v1/webhooks", f.admin, strings.NewReader(`{"url":"http://127.0.0.1:9/x"}`), "Content-Type", "application/json")
	var hook any
	json.Unmarshal(body, &hook)
	if err := validate(doc, map[string]any{"$ref": "#/components/schemas/Webhook"}, hook, "webhook"); resp.StatusCode != 201 || err != nil {
		t.Errorf("webhook: %d %v", resp.StatusCode, err)
	}
	_, body = f.get("/api/v1/tickets/999999", f.tokenA)
	var e any
	json.Unmarshal(body, &e)
	if err := validate(doc, map[string]any{"$ref": "#/components/schemas/Error"}, e, "error"); err != nil {
		t.Errorf("error answer: %v", err)
	}
	// The checker itself can fail.
	if validate(doc, map[string]any{"$ref": "#/components/schemas/Ticket"}, map[string]any{"id": "x"}, "bad") == nil {
		t.Error("validate accepted a ticket without its fields")
	}
}

// validate checks v against the part of JSON Schema the document uses:
// $ref, allOf, type (also a list), required, properties, items, enum.
func validate(doc openapiDocJSON, schema map[string]any, v any, at string) error {
	if ref, ok := schema["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		s, ok := doc.Components.Schemas[name]
		if !ok {
			return fmt.Errorf("%s: unknown schema %s", at, ref)
		}
		return validate(doc, s, v, at)
	}
	if all, ok := schema["allOf"].([]any); ok {
		for _, sub := range all {
			if err := validate(doc, sub.(map[string]any), v, at); err != nil {
				return err
			}
		}
	}
	if typ, ok := schema["type"]; ok {
		types := []string{}
		switch x := typ.(type) {
		case string:
			types = append(types, x)
		case []any:
			for _, y := range x {
				types = append(types, y.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return fmt.Errorf("%s: %s, want %v", at, jsonType(v), types)
		}
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	if obj, ok := v.(map[string]any); ok {
		for _, r := range asList(schema["required"]) {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: no %q", at, r)
			}
		}
		props, _ := schema["properties"].(map[string]any)
		for k, sub := range props {
			if val, ok := obj[k]; ok {
				if err := validate(doc, sub.(map[string]any), val, at+"."+k); err != nil {
					return err
				}
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := schema["items"].(map[string]any); ok {
			for i, it := range arr {
				if err := validate(doc, items, it, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func asList(v any) []string {
	var out []string
	for _, x := range toSlice(v) {
		out = append(out, x.(string))
	}
	return out
}

func toSlice(v any) []any { s, _ := v.([]any); return s }

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// TestOpenAPIExamples: every example in the document fits the schema it
// belongs to (a schema's own example, or a media type's example against
// its schema), and each object schema of the components has one, so the
// examples readers copy from are true; the NewTicket example, sent to the
// API, makes a ticket whose answer fits Ticket.
func TestOpenAPIExamples(t *testing.T) {
	f := newFixture(t)
	doc := loadOpenAPI(t, f)
	checked := 0
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ex, ok := x["example"]; ok {
				schema := x
				if sc, ok := x["schema"].(map[string]any); ok {
					schema = sc // a media type object
				}
				if err := validate(doc, schema, ex, at+".example"); err != nil {
					t.Errorf("%v", err)
				}
				checked++
			}
			for k, sub := range x {
				if k != "example" {
					walk(sub, at+"."+k)
				}
			}
		case []any:
			for i, sub := range x {
				walk(sub, fmt.Sprintf("%s[%d]", at, i))
			}
		}
	}
	for name, s := range doc.Components.Schemas {
		walk(s, name)
		if s["type"] == "object" && s["example"] == nil {
			t.Errorf("schema %s has no example", name)
		}
	}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op any
			json.Unmarshal(raw, &op)
			walk(op, method+" "+path)
		}
	}
	if checked < 9 {
		t.Errorf("only %d examples checked", checked)
	}
	body, _ := json.Marshal(doc.Components.Schemas["NewTicket"]["example"])
	res, answer := f.do(http.MethodPost, "/api/v1/tickets", f.tokenA, bytes.NewReader(body), "Content-Type", "application/json")
	var created any
	json.Unmarshal(answer, &created)
	if res.StatusCode != http.StatusCreated {
		t.Errorf("the NewTicket example: %d %s", res.StatusCode, answer)
	} else if err := validate(doc, map[string]any{"$ref": "#/components/schemas/Ticket"}, created, "created"); err != nil {
		t.Errorf("the ticket made from the example: %v", err)
	}
	// A wrong example is caught.
	if validate(doc, doc.Components.Schemas["Ticket"], map[string]any{"id": 1}, "bad") == nil {
		t.Error("an example without the ticket's fields passed")
	}
}
