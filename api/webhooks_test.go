package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/ticket"
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

// TestWebhookRedeliver: an admin sends a past event to a subscription
// again; the receiver gets it with the webhook-id of the event and a
// signature an independent Standard Webhooks implementation verifies; the
// answer and the delivery log show the attempt. Unknown events, other
// tenants' subscriptions and a missing event_id are refused.
func TestWebhookRedeliver(t *testing.T) {
	f := newFixture(t)
	var (
		mu  sync.Mutex
		got []http.Header
		bad []error
	)
	var secret string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v, err := standardwebhooks.NewWebhook(secret)
		if err == nil {
			err = v.Verify(body, r.Header)
		}
		mu.Lock()
		got = append(got, r.Header.Clone())
		if err != nil {
			bad = append(bad, err)
		}
		mu.Unlock()
	}))
	defer rcv.Close()
	res, body := f.do(http.MethodPost, "/api/v1/webhooks", f.admin,
		strings.NewReader(fmt.Sprintf(`{"url":%q,"events":["ticket.created"]}`, rcv.URL)), "Content-Type", "application/json")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/webhooks: %d %s", res.StatusCode, body)
	}
	hook := decode[webhookJSON](t, body)
	secret = hook.Secret
	f.ingest(inMail{from: "c@customer.example", subject: "Help"})
	_, body = f.get("/api/v1/events?type=ticket.created", f.admin)
	var page struct {
		Events []struct {
			ID int64 `json:"id"`
		} `json:"events"`
	}
	json.Unmarshal(body, &page)
	if len(page.Events) != 1 {
		t.Fatalf("events: %s", body)
	}
	ev := page.Events[0].ID
	path := fmt.Sprintf("/api/v1/webhooks/%d/redeliver", hook.ID)
	post := func(token, body string) (int, string) {
		res, b := f.do(http.MethodPost, path, token, strings.NewReader(body), "Content-Type", "application/json")
		return res.StatusCode, string(b)
	}
	code, out := post(f.admin, fmt.Sprintf(`{"event_id":%d}`, ev))
	if code != 200 || !strings.Contains(out, `"status_code":200`) || !strings.Contains(out, fmt.Sprintf(`"webhook_id":"evt_%d`, ev)) {
		t.Fatalf("redeliver: %d %s", code, out)
	}
	mu.Lock()
	if len(got) != 1 || len(bad) != 0 || !strings.HasPrefix(got[0].Get("webhook-id"), fmt.Sprintf("evt_%d", ev)) {
		t.Errorf("receiver got %d (bad %v): %v", len(got), bad, got)
	}
	mu.Unlock()
	if _, log := f.get(fmt.Sprintf("/api/v1/webhooks/%d/deliveries", hook.ID), f.admin); !strings.Contains(string(log), fmt.Sprintf(`"event_id":%d`, ev)) {
		t.Errorf("delivery log lacks the redelivery: %s", log)
	}
	if code, out := post(f.admin, `{"event_id":999999}`); code != 404 || !strings.Contains(out, "event 999999") {
		t.Errorf("unknown event: %d %s", code, out)
	}
	if code, out := post(f.admin, `{}`); code != 400 || !strings.Contains(out, "event_id") {
		t.Errorf("no event_id: %d %s", code, out)
	}
	if code, _ := post(f.tokenB, fmt.Sprintf(`{"event_id":%d}`, ev)); code != 404 {
		t.Errorf("another tenant's redelivery: %d, want 404", code)
	}
}

// fullDisk is a disk with no space left: every write fails as the OS
// says it (ENOSPC), as store's blob writer passes it on.
type fullDisk struct{}

func (fullDisk) PutBlob(context.Context, io.Reader) (ticket.BlobRef, error) {
	return ticket.BlobRef{}, fmt.Errorf("store: write blob: %w", &os.PathError{Op: "write", Path: "/var/lib/sidedesk/blobs/pack-1", Err: syscall.ENOSPC})
}

func (fullDisk) PutUpload(context.Context, ticket.Upload) (ticket.Upload, error) {
	return ticket.Upload{}, errors.New("store: put upload: database or disk is full (13)")
}

// TestDiskFullAnswers507: a write refused for a full disk answers 507
// Insufficient Storage saying so (not a bare 500), and the message names
// what to do.
func TestDiskFullAnswers507(t *testing.T) {
	f := newFixture(t)
	srv, err := New(Options{Store: f.st, Blobs: f.st.Blobs(), Uploads: fullDisk{}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/uploads?filename=a.txt", strings.NewReader("hello"))
	req.Header.Set("Authorization", "Bearer "+f.tokenA)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if code, msg := apiError(t, body); res.StatusCode != http.StatusInsufficientStorage || code != "insufficient_storage" ||
		!strings.Contains(msg, "disk is full") || !strings.Contains(msg, "free space") {
		t.Errorf("upload on a full disk: %d %s %q", res.StatusCode, code, msg)
	}
	if !diskFull(errors.New("sqlite: database or disk is full (13)")) || diskFull(errors.New("constraint failed")) {
		t.Error("diskFull misjudges SQLite's answers")
	}
}
