package gmailsource

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/capture/gmailsource/gmailtest"
)

func pushBody(data string) string {
	return `{"message":{"data":"` + data + `","messageId":"2070443601311540","publishTime":"2026-11-20T10:00:00Z"},` +
		`"subscription":"projects/acme/subscriptions/gmail-push"}`
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestPushHandler(t *testing.T) {
	src := &Source{notify: make(chan struct{}, 1)}
	h := PushHandler("s3cret-token", map[string]*Source{"Support@Acme.example": src}, nil)
	tests := []struct {
		name, method, url, body string
		want                    int
		notified                bool
	}{
		{"good", "POST", "/gmail/push?token=s3cret-token", pushBody(b64(`{"emailAddress":"support@acme.example","historyId":9876543210}`)), 204, true},
		{"quoted history id, url alphabet", "POST", "/gmail/push?token=s3cret-token",
			pushBody(base64.RawURLEncoding.EncodeToString([]byte(`{"emailAddress":"SUPPORT@acme.example","historyId":"12"}`))), 204, true},
		{"bad token", "POST", "/gmail/push?token=s3cret-tokem", pushBody(b64(`{"emailAddress":"support@acme.example","historyId":1}`)), 401, false},
		{"no token", "POST", "/gmail/push", pushBody(b64(`{"emailAddress":"support@acme.example","historyId":1}`)), 401, false},
		{"GET", "GET", "/gmail/push?token=s3cret-token", "", 405, false},
		{"garbage body", "POST", "/gmail/push?token=s3cret-token", "{", 400, false},
		{"garbage data", "POST", "/gmail/push?token=s3cret-token", pushBody("!!!"), 400, false},
		{"unknown address is acked", "POST", "/gmail/push?token=s3cret-token", pushBody(b64(`{"emailAddress":"other@acme.example","historyId":1}`)), 204, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.body)))
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
			notified := false
			select {
			case <-src.notify:
				notified = true
			default:
			}
			if notified != tc.notified {
				t.Fatalf("notified %v, want %v", notified, tc.notified)
			}
		})
	}
	// An empty configured token refuses everything.
	rec := httptest.NewRecorder()
	PushHandler("", nil, nil).ServeHTTP(rec, httptest.NewRequest("POST", "/gmail/push?token=", strings.NewReader(pushBody(""))))
	if rec.Code != 401 {
		t.Fatalf("empty token: %d", rec.Code)
	}
}

// A push wakes a running Source at once (its poll interval is an hour).
func TestPushTriggersSync(t *testing.T) {
	e := newEnv(t)
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	src, _ := newSource(t, e, fake, func(o *Options) { o.PollInterval = time.Hour })
	startRun(t, src)
	// Wait for the first pass (state recorded) before mail arrives.
	waitFor(t, func() bool { _, err := e.st.SyncState(context.Background(), "default", "support"); return err == nil })

	srv := httptest.NewServer(PushHandler("tok", map[string]*Source{fake.User(): src}, nil))
	defer srv.Close()
	fake.AddMessage("me", gmailtest.Corpus(1)[0])
	resp, err := http.Post(srv.URL+"/gmail/push?token=tok", "application/json",
		strings.NewReader(pushBody(b64(`{"emailAddress":"`+fake.User()+`","historyId":1}`))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("push answered %d", resp.StatusCode)
	}
	waitFor(t, func() bool { return countMessages(t, e) == 1 })
}

// waitFor polls cond until it holds or 10 s pass (a deadline, not a timing
// assertion).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
