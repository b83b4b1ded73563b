package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/webhook"
)

func mustWebhooks(t testing.TB, st *store.Store) *webhook.Service {
	t.Helper()
	w, err := webhook.New(webhook.Options{Store: st, Key: []byte("0123456789abcdef0123456789abcdef"), AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWebhookRoutes: a subscription is made (its secret shown once),
// listed without the secret, scoped to the tenant, and deleted; bad input
// names the field.
func TestWebhookRoutes(t *testing.T) {
	f := newFixture(t)
	// Webhooks are an admin's: the default scopes are refused, naming the one missing.
	res, body := f.do(http.MethodPost, "/api/v1/webhooks", f.tokenA, strings.NewReader(`{"url":"http://127.0.0.1:9/x"}`),
		"Content-Type", "application/json")
	if code, msg := apiError(t, body); res.StatusCode != http.StatusForbidden || code != "insufficient_scope" ||
		!strings.Contains(msg, "admin") || !strings.Contains(res.Header.Get("WWW-Authenticate"), `scope="admin"`) {
		t.Errorf("webhook with default scopes: %d %s %s %q", res.StatusCode, code, msg, res.Header.Get("WWW-Authenticate"))
	}
	res, body = f.do(http.MethodPost, "/api/v1/webhooks", f.admin,
		strings.NewReader(`{"url":"http://127.0.0.1:9/hook","events":["ticket.created","message.created"]}`), "Content-Type", "application/json")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/webhooks: %d %s", res.StatusCode, body)
	}
	created := decode[webhookJSON](t, body)
	if !strings.HasPrefix(created.Secret, "whsec_") || created.ID == 0 || len(created.Events) != 2 {
		t.Fatalf("created %+v", created)
	}
	_, body = f.get("/api/v1/webhooks", f.admin)
	if strings.Contains(string(body), created.Secret) || !strings.Contains(string(body), "127.0.0.1:9/hook") {
		t.Errorf("list shows the secret or lacks the hook: %s", body)
	}
	_, body = f.get("/api/v1/webhooks", f.tokenB)
	if strings.Contains(string(body), "127.0.0.1:9") {
		t.Errorf("another tenant sees the hook: %s", body)
	}
	id := strconv.FormatInt(created.ID, 10)
	if res, _ := f.get("/api/v1/webhooks/"+id+"/deliveries", f.tokenB); res.StatusCode != http.StatusNotFound {
		t.Errorf("other tenant's deliveries: %d, want 404", res.StatusCode)
	}
	if res, body := f.get("/api/v1/webhooks/"+id+"/deliveries", f.admin); res.StatusCode != 200 || !strings.Contains(string(body), `"deliveries":[]`) {
		t.Errorf("deliveries: %d %s", res.StatusCode, body)
	}
	for _, bad := range []string{`{"url":"not a url"}`, `{"url":"https://example.com","events":["nope"]}`, `{"uri":"x"}`} {
		res, body := f.do(http.MethodPost, "/api/v1/webhooks", f.admin, strings.NewReader(bad), "Content-Type", "application/json")
		if code, msg := apiError(t, body); res.StatusCode != 400 || msg == "" {
			t.Errorf("%s: %d %s %s", bad, res.StatusCode, code, msg)
		}
	}
	if res, _ := f.do(http.MethodDelete, "/api/v1/webhooks/"+id, f.tokenB, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("other tenant's delete: %d, want 404", res.StatusCode)
	}
	if res, _ := f.do(http.MethodDelete, "/api/v1/webhooks/"+id, f.admin, nil); res.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d, want 204", res.StatusCode)
	}
	if _, body := f.get("/api/v1/webhooks", f.admin); strings.Contains(string(body), "127.0.0.1:9") {
		t.Errorf("deleted hook still listed: %s", body)
	}
}

// TestScopes: a read-only token reads and is refused a change, naming the
// scope it lacks.
func TestScopes(t *testing.T) {
	f := newFixture(t)
	res0 := f.ingest(inMail{from: "c@customer.example", subject: "Help"})
	ro := f.newToken("default", "read-only", "tickets:read")
	if res, _ := f.get("/api/v1/tickets", ro); res.StatusCode != 200 {
		t.Errorf("read with tickets:read: %d", res.StatusCode)
	}
	res, body := f.do(http.MethodPatch, "/api/v1/tickets/"+strconv.FormatInt(res0.TicketID, 10), ro,
		strings.NewReader(`{"status":"open"}`), "Content-Type", "application/json")
	if code, msg := apiError(t, body); res.StatusCode != http.StatusForbidden || code != "insufficient_scope" || !strings.Contains(msg, "tickets:write") {
		t.Errorf("PATCH with tickets:read: %d %s %s", res.StatusCode, code, msg)
	}
	if res, _ := f.get("/api/v1/events", ro); res.StatusCode != http.StatusForbidden {
		t.Errorf("events with tickets:read: %d, want 403", res.StatusCode)
	}
	if res, _ := f.get("/api/v1/events", f.tokenA); res.StatusCode != 200 {
		t.Errorf("events with the default scopes: %d", res.StatusCode)
	}
}

// TestTokensAndUsersRoutes: an admin lists, creates (shown once) and
// revokes the tenant's tokens; a revoked token authenticates nothing;
// another tenant's token ids are not found; agents are listed.
func TestTokensAndUsersRoutes(t *testing.T) {
	f := newFixture(t)
	res, body := f.do(http.MethodPost, "/api/v1/tokens", f.admin, strings.NewReader(`{"name":"zapier","scopes":["tickets:read"]}`), "Content-Type", "application/json")
	created := decode[tokenJSON](t, body)
	if res.StatusCode != http.StatusCreated || !strings.HasPrefix(created.Token, "sdk_") || len(created.Scopes) != 1 {
		t.Fatalf("create token: %d %s", res.StatusCode, body)
	}
	if res, _ := f.get("/api/v1/tickets", created.Token); res.StatusCode != 200 {
		t.Errorf("the new token: %d", res.StatusCode)
	}
	if res, _ := f.do(http.MethodPost, "/api/v1/tokens", f.admin, strings.NewReader(`{"name":"zapier"}`), "Content-Type", "application/json"); res.StatusCode != http.StatusConflict {
		t.Errorf("duplicate name: %d, want 409", res.StatusCode)
	}
	if res, _ := f.do(http.MethodPost, "/api/v1/tokens", f.admin, strings.NewReader(`{"name":"x","scopes":["root"]}`), "Content-Type", "application/json"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown scope: %d, want 400", res.StatusCode)
	}
	_, body = f.get("/api/v1/tokens", f.admin)
	if strings.Contains(string(body), created.Token) || !strings.Contains(string(body), `"zapier"`) {
		t.Errorf("token list: %s", body)
	}
	id := strconv.FormatInt(created.ID, 10)
	if res, _ := f.do(http.MethodDelete, "/api/v1/tokens/"+id, f.tokenB, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant revoking: %d, want 404", res.StatusCode)
	}
	if res, _ := f.do(http.MethodDelete, "/api/v1/tokens/"+id, f.admin, nil); res.StatusCode != http.StatusNoContent {
		t.Errorf("revoke: %d", res.StatusCode)
	}
	if res, _ := f.get("/api/v1/tickets", created.Token); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", res.StatusCode)
	}
	if res, _ := f.get("/api/v1/tokens", f.tokenA); res.StatusCode != http.StatusForbidden {
		t.Errorf("tokens without admin: %d, want 403", res.StatusCode)
	}
	if _, err := f.st.CreateUser(context.Background(), "default", "ana@acme.example", "Ana", "agent", ""); err != nil {
		t.Fatal(err)
	}
	_, body = f.get("/api/v1/users", f.tokenA)
	if !strings.Contains(string(body), `"email":"ana@acme.example"`) {
		t.Errorf("users: %s", body)
	}
	_, body = f.get("/api/v1/users", f.tokenB)
	if strings.Contains(string(body), "ana@acme.example") {
		t.Errorf("another tenant sees the agent: %s", body)
	}
}
