package calendar

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGoogle speaks the freebusy.query REST shape and an OAuth2 token
// endpoint. Each access token it issues expires at once (expires_in below
// oauth2's 10 s margin), so every API call makes the client refresh.
type fakeGoogle struct {
	t        *testing.T
	mu       sync.Mutex
	tokens   int
	grants   []string // grant_type of each token request
	subjects []string // sub claim of JWT assertions
	refresh  []string // refresh_token of refresh requests
	busy     map[string][][2]string
	errs     map[string]string
}

func (f *fakeGoogle) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", 400)
			return
		}
		f.mu.Lock()
		f.tokens++
		n := f.tokens
		f.grants = append(f.grants, r.PostForm.Get("grant_type"))
		if rt := r.PostForm.Get("refresh_token"); rt != "" {
			f.refresh = append(f.refresh, rt)
		}
		if a := r.PostForm.Get("assertion"); a != "" {
			parts := strings.Split(a, ".")
			var claims struct {
				Sub, Scope string
			}
			if len(parts) == 3 {
				b, _ := base64.RawURLEncoding.DecodeString(parts[1])
				_ = json.Unmarshal(b, &claims)
			}
			f.subjects = append(f.subjects, claims.Sub+" "+claims.Scope)
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","expires_in":5}`, n)
	})
	mux.HandleFunc("POST /calendar/v3/freeBusy", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		want := fmt.Sprintf("Bearer at-%d", f.tokens)
		f.mu.Unlock()
		if r.Header.Get("Authorization") != want {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":{"code":401,"message":"Invalid Credentials","errors":[{"reason":"authError"}]}}`)
			return
		}
		var req struct {
			TimeMin, TimeMax string
			Items            []struct{ ID string }
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.TimeMin == "" || req.TimeMax == "" {
			http.Error(w, "bad request", 400)
			return
		}
		cals := map[string]any{}
		for _, it := range req.Items {
			if reason, ok := f.errs[it.ID]; ok {
				cals[it.ID] = map[string]any{"errors": []map[string]string{{"domain": "global", "reason": reason}}, "busy": []any{}}
				continue
			}
			var busy []map[string]string
			for _, b := range f.busy[it.ID] {
				busy = append(busy, map[string]string{"start": b[0], "end": b[1]})
			}
			cals[it.ID] = map[string]any{"busy": busy}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "calendar#freeBusy", "timeMin": req.TimeMin, "timeMax": req.TimeMax, "calendars": cals})
	})
	return mux
}

func serviceAccountJSON(t *testing.T, tokenURL string) []byte {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "sa@p.iam.gserviceaccount.com", "client_id": "1", "token_uri": tokenURL,
	})
	return b
}

func TestGoogleSource(t *testing.T) {
	from, to := utc("2026-03-01T00:00:00Z"), utc("2026-03-31T00:00:00Z")
	busy := map[string][][2]string{
		"primary":          {{"2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"}, {"2026-03-03T10:00:00+01:00", "2026-03-03T11:00:00+01:00"}},
		"team@example.com": {{"2026-03-02T09:30:00Z", "2026-03-02T11:00:00Z"}},
	}
	tests := []struct {
		name      string
		ids       []string
		errs      map[string]string
		sa        bool
		want      []Interval
		wantErr   string
		wantGrant string
	}{
		{"oauth refresh token, two calendars merged", []string{"primary", "team@example.com"}, nil, false,
			[]Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T11:00:00Z"), iv("2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z")}, "", "refresh_token"},
		{"one calendar of the batch fails", []string{"primary", "broken@example.com", "team@example.com"},
			map[string]string{"broken@example.com": "notFound"}, false, nil, `"broken@example.com": notFound`, "refresh_token"},
		{"service account with delegation", []string{"primary"}, nil, true,
			[]Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"), iv("2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z")}, "", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeGoogle{t: t, busy: busy, errs: tc.errs}
			srv := httptest.NewServer(f.handler())
			defer srv.Close()
			opts := GoogleOptions{CalendarIDs: tc.ids, BaseURL: srv.URL + "/calendar/v3", TokenURL: srv.URL + "/token"}
			if tc.sa {
				opts.CredentialsJSON, opts.Subject = serviceAccountJSON(t, srv.URL+"/token"), "alice@acme.example"
			} else {
				opts.ClientID, opts.ClientSecret, opts.RefreshToken = "cid", "csecret", "rt-alice"
			}
			g, err := NewGoogle(opts)
			if err != nil {
				t.Fatal(err)
			}
			for call := 0; call < 2; call++ { // the second call must refresh the expired token
				got, err := g.Busy(t.Context(), from, to)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("err = %v, want %q", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				assertIntervals(t, normalize(got, from, to), tc.want)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.tokens != 2 {
				t.Errorf("token requests = %d, want 2 (one refresh per expired token)", f.tokens)
			}
			for _, g := range f.grants {
				if g != tc.wantGrant {
					t.Errorf("grant_type %q, want %q", g, tc.wantGrant)
				}
			}
			if tc.sa {
				if len(f.subjects) == 0 || f.subjects[0] != "alice@acme.example https://www.googleapis.com/auth/calendar.freebusy" {
					t.Errorf("JWT sub/scope = %q", f.subjects)
				}
			} else if len(f.refresh) != 2 || f.refresh[0] != "rt-alice" {
				t.Errorf("refresh tokens sent: %q", f.refresh)
			}
		})
	}
}

// TestGoogleFailureKeepsStoredBusy: a failed batch leaves the intervals of
// the last good sync in place and records the error.
func TestGoogleFailureKeepsStoredBusy(t *testing.T) {
	f := &fakeGoogle{t: t, busy: map[string][][2]string{"primary": {{"2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"}}}}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	g, err := NewGoogle(GoogleOptions{CalendarIDs: []string{"primary"}, ClientID: "c", RefreshToken: "r",
		BaseURL: srv.URL + "/calendar/v3/", TokenURL: srv.URL + "/token"})
	if err != nil {
		t.Fatal(err)
	}
	db, _ := openTestDB(t)
	svc, err := New(Options{Store: db, Agents: []Agent{{ID: "a", Source: g}}, Now: func() time.Time { return utc("2026-03-01T00:00:00Z") }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SyncOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.errs = map[string]string{"primary": "internalError"}
	if _, err := svc.SyncOnce(t.Context()); err == nil || !strings.Contains(err.Error(), "internalError") {
		t.Fatalf("err = %v", err)
	}
	sb, err := svc.st.StoredBusy(t.Context(), svc.tenant, "a", utc("2026-03-01T00:00:00Z"), utc("2026-04-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	assertIntervals(t, sb.Busy, []Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")})
	if st := svc.Status(); !strings.Contains(st[0].LastError, "internalError") || st[0].Intervals != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestNewGoogleValidation(t *testing.T) {
	tests := []struct {
		name string
		opts GoogleOptions
	}{
		{"no credentials", GoogleOptions{}},
		{"service account without subject", GoogleOptions{CredentialsJSON: []byte(`{"type":"service_account"}`)}},
		{"refresh token without client id", GoogleOptions{RefreshToken: "r"}},
		{"bad service account json", GoogleOptions{CredentialsJSON: []byte(`{"private_key":"SECRET-KEY-MATERIAL"`), Subject: "a@b"}},
	}
	for _, tc := range tests {
		_, err := NewGoogle(tc.opts)
		if err == nil || strings.Contains(err.Error(), "SECRET-KEY-MATERIAL") {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}
