package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sidedesk/sidedesk/outbox"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/store/storetest"
	"github.com/sidedesk/sidedesk/ticket"
	"github.com/sidedesk/sidedesk/webhook"
)

var key = []byte("0123456789abcdef0123456789abcdef")

// receiver is an HTTP endpoint that answers each request with the next
// scripted status (200 once they are used up) and keeps what it got.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	status []int
	got    []received
}

type received struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t testing.TB, status ...int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		code := http.StatusOK
		if len(r.status) > 0 {
			code, r.status = r.status[0], r.status[1:]
		}
		r.got = append(r.got, received{header: req.Header.Clone(), body: b, status: code})
		r.mu.Unlock()
		if code == http.StatusFound {
			http.Redirect(w, req, "/elsewhere", code)
			return
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

type env struct {
	t     testing.TB
	st    *store.Store
	svc   *ticket.Service
	hooks *webhook.Service
	n     int
}

func newEnv(t testing.TB) *env {
	st := storetest.Open(t)
	svc, err := ticket.NewService(ticket.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := webhook.New(webhook.Options{Store: st, Key: key, AllowPrivate: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, st: st, svc: svc, hooks: hooks}
}

// run delivers every active subscription through outbox runners until
// the test ends.
func (e *env) run() {
	r, err := outbox.New(outbox.Options{Store: e.st, Notify: e.st, FirstBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.hooks.Run(ctx, 20*time.Millisecond, func(ctx context.Context, c webhook.Consumer) error {
			return r.Run(ctx, outbox.Consumer{Name: c.Name, Tenant: c.Tenant, Deliver: c.Deliver})
		})
	}()
	e.t.Cleanup(func() { cancel(); <-done })
}

func (e *env) ingest(subject string) ticket.Result {
	e.n++
	res, err := e.svc.Ingest(context.Background(), ticket.Inbound{Tenant: "default", Mailbox: "support",
		SourceKey: "k" + string(rune('a'+e.n)), MessageID: subject + "@customer.example", BodyHash: subject,
		From: ticket.Address{Email: "cora@customer.example"}, Subject: subject, Text: "help", Date: time.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSignedDeliveries: subscribed events arrive signed per Standard
// Webhooks (checked with the specification's reference library), with
// {type, timestamp, data}; a failed attempt is retried with the same
// webhook-id, and both attempts are in the delivery log; the secret is
// stored sealed.
func TestSignedDeliveries(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, http.StatusInternalServerError) // the first attempt fails
	hook, secret, err := e.hooks.Create(context.Background(), "default", rcv.srv.URL+"/hook", []string{"ticket.created"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "whsec_") || strings.Contains(string(hook.SecretSealed), strings.TrimPrefix(secret, "whsec_")) {
		t.Fatalf("secret %q / sealed %x", secret, hook.SecretSealed)
	}
	e.run()
	time.Sleep(100 * time.Millisecond) // the consumer starts after the events committed so far
	res := e.ingest("printer")
	waitFor(t, "the retried delivery", func() bool { return len(rcv.received()) >= 2 })
	got := rcv.received()
	verifier, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got[:2] {
		if err := verifier.Verify(g.body, g.header); err != nil {
			t.Errorf("attempt %d: the reference library refuses the signature: %v", i+1, err)
		}
	}
	if got[0].header.Get("webhook-id") == "" || got[0].header.Get("webhook-id") != got[1].header.Get("webhook-id") {
		t.Errorf("webhook-id %q then %q: want the same on the retry", got[0].header.Get("webhook-id"), got[1].header.Get("webhook-id"))
	}
	var msg struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(got[1].body, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Type != "ticket.created" || msg.Timestamp == "" || msg.Data["ticket_id"] != float64(res.TicketID) || msg.Data["ticket_number"] != float64(res.TicketNumber) {
		t.Errorf("payload %s", got[1].body)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(rcv.received()); n != 2 {
		t.Errorf("%d requests, want 2: message.received is not subscribed to", n)
	}
	log, err := e.hooks.Deliveries(context.Background(), "default", hook.ID, 10)
	if err != nil || len(log) != 2 || log[0].StatusCode != 200 || log[1].StatusCode != 500 {
		t.Errorf("delivery log %+v, %v; want 200 (newest) and 500", log, err)
	}
	// A tampered body fails verification: the check above can fail.
	if err := verifier.Verify(append(got[1].body, ' '), got[1].header); err == nil {
		t.Error("the reference library accepted a tampered body")
	}
}

// TestGoneDisablesAndRedirectsAreNotFollowed: 410 disables the
// subscription with the reason; a redirect is a failure, its target is not
// requested.
func TestGoneDisablesAndRedirectsAreNotFollowed(t *testing.T) {
	e := newEnv(t)
	gone := newReceiver(t, http.StatusGone)
	moved := newReceiver(t, http.StatusFound, http.StatusFound, http.StatusFound)
	g, _, err := e.hooks.Create(context.Background(), "default", gone.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := e.hooks.Create(context.Background(), "default", moved.srv.URL+"/a", []string{"ticket.created"})
	if err != nil {
		t.Fatal(err)
	}
	e.run()
	time.Sleep(100 * time.Millisecond)
	e.ingest("first")
	waitFor(t, "the subscription disabled", func() bool {
		w, err := e.st.Webhook(context.Background(), "default", g.ID)
		return err == nil && !w.DisabledAt.IsZero() && strings.Contains(w.DisabledReason, "410")
	})
	waitFor(t, "the redirect retried", func() bool { return len(moved.received()) >= 2 })
	for _, r := range moved.received() {
		if r.status != http.StatusFound {
			t.Errorf("a request past the redirects reached the receiver: %+v", r)
		}
	}
	w, _ := e.st.Webhook(context.Background(), "default", m.ID)
	if w.FailingSince.IsZero() || !w.DisabledAt.IsZero() {
		t.Errorf("redirecting endpoint: %+v, want failing, not disabled", w)
	}
}

// TestPrivateTargetsRefused: without allow_private, a subscription to a
// loopback or private address is refused when made, and a connection to
// one is refused when delivering (a name that resolves there later).
func TestPrivateTargetsRefused(t *testing.T) {
	st := storetest.Open(t)
	strict, err := webhook.New(webhook.Options{Store: st, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/latest/meta-data", "ftp://example.com/x", "https://user:pw@example.com/"} {
		if _, _, err := strict.Create(context.Background(), "default", u, nil); !errors.Is(err, ticket.ErrInvalid) {
			t.Errorf("%s: %v, want refused", u, err)
		}
	}
	if _, _, err := strict.Create(context.Background(), "default", "https://example.com/x", []string{"ticket.exploded"}); err == nil ||
		!strings.Contains(err.Error(), "ticket.exploded") {
		t.Errorf("unknown event type: %v", err)
	}
	rcv := newReceiver(t)
	lax, _ := webhook.New(webhook.Options{Store: st, Key: key, AllowPrivate: true})
	h, _, err := lax.Create(context.Background(), "default", rcv.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = strict.Deliver(context.Background(), "default", h.ID, ticket.Event{ID: 1, Tenant: "default", Type: ticket.EventTicketCreated, Payload: []byte(`{}`)})
	if err == nil || len(rcv.received()) != 0 {
		t.Fatalf("delivery to loopback without allow_private: %v, %d requests", err, len(rcv.received()))
	}
	log, _ := strict.Deliveries(context.Background(), "default", h.ID, 5)
	if len(log) != 1 || !strings.Contains(log[0].Error, "loopback") {
		t.Errorf("delivery log %+v, want the refusal", log)
	}
}

// TestSecretRotation: after a rotation both the new and the old secret
// verify the messages (the reference library accepts either), until the
// overlap ends; then only the new one does.
func TestSecretRotation(t *testing.T) {
	st := storetest.Open(t)
	now := time.Now()
	clock := func() time.Time { return now }
	hooks, err := webhook.New(webhook.Options{Store: st, Key: key, AllowPrivate: true, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t)
	h, oldSecret, err := hooks.Create(context.Background(), "default", rcv.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	newSecret, err := hooks.RotateSecret(context.Background(), "default", h.ID)
	if err != nil || newSecret == oldSecret {
		t.Fatalf("rotate: %q %v", newSecret, err)
	}
	ev := ticket.Event{ID: 7, Tenant: "default", Type: ticket.EventTicketCreated, Payload: []byte(`{"ticket_number":1}`), CreatedAt: now}
	if err := hooks.Deliver(context.Background(), "default", h.ID, ev); err != nil {
		t.Fatal(err)
	}
	got := rcv.received()[0]
	if n := len(strings.Fields(got.header.Get("webhook-signature"))); n != 2 {
		t.Errorf("%d signatures during the overlap, want 2", n)
	}
	for name, sec := range map[string]string{"new": newSecret, "old": oldSecret} {
		v, _ := standardwebhooks.NewWebhook(sec)
		if err := v.Verify(got.body, got.header); err != nil {
			t.Errorf("the %s secret does not verify during the overlap: %v", name, err)
		}
	}
	now = now.Add(webhook.RotationOverlap + time.Minute)
	ev.ID, ev.CreatedAt = 8, now
	if err := hooks.Deliver(context.Background(), "default", h.ID, ev); err != nil {
		t.Fatal(err)
	}
	late := rcv.received()[1]
	if n := len(strings.Fields(late.header.Get("webhook-signature"))); n != 1 {
		t.Errorf("%d signatures after the overlap, want 1", n)
	}
	if _, err := hooks.RotateSecret(context.Background(), "other", h.ID); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("another tenant's rotation: %v", err)
	}
}
