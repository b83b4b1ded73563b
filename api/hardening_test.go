package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/store/storetest"
)

func TestHSTSAndSecretPathsRedacted(t *testing.T) {
	for _, c := range []struct {
		publicURL string
		hsts      bool
	}{{"https://desk.example", true}, {"http://127.0.0.1:8080", false}, {"", false}} {
		st := storetest.Open(t)
		var logs bytes.Buffer
		srv, err := New(Options{Store: st, Blobs: st.Blobs(), PublicURL: c.publicURL, SecretPaths: []string{"/freebusy/"},
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Mount("GET /freebusy/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("BEGIN:VCALENDAR"))
		})); err != nil {
			t.Fatal(err)
		}
		const token = "k3xq9v2m4n8p7r5t6w1y0z2a4b"
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/freebusy/"+token+".ics", nil))
		if rec.Code != 200 {
			t.Fatalf("%s: feed answered %d", c.publicURL, rec.Code)
		}
		if got := rec.Header().Get("Strict-Transport-Security") != ""; got != c.hsts {
			t.Errorf("public_url %q: HSTS sent %v, want %v", c.publicURL, got, c.hsts)
		}
		if strings.Contains(logs.String(), token) || !strings.Contains(logs.String(), "/freebusy/<redacted>") {
			t.Errorf("request log %q: the feed token must be redacted", logs.String())
		}
	}
}

func TestHTTPServerTimeouts(t *testing.T) {
	st := storetest.Open(t)
	srv, err := New(Options{Store: st, Blobs: st.Blobs()})
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.HTTPServer()
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Errorf("timeouts %v %v %v %v: a slow client could hold a connection", hs.ReadHeaderTimeout,
			hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
}
