package calendar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"github.com/sidedesk/sidedesk/ticket"
)

type staticSource struct {
	busy []Interval
	err  error
}

func (s staticSource) Busy(context.Context, time.Time, time.Time) ([]Interval, error) {
	return s.busy, s.err
}

func newHTTPService(t *testing.T) *Service {
	t.Helper()
	db, _ := openTestDB(t)
	svc, err := New(Options{
		Store: db,
		Agents: []Agent{
			{ID: "alice", Location: mustLoc(t, "Europe/Berlin"), Hours: weekdays(9*time.Hour, 17*time.Hour),
				Source: staticSource{busy: []Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"), iv("2026-03-30T07:30:00Z", "2026-03-30T08:00:00Z")}}},
			{ID: "bob", Source: staticSource{err: errors.New("down")}},
		},
		FeedSecret: []byte("0123456789abcdef0123456789abcdef"),
		Window:     30 * 24 * time.Hour,
		Now:        func() time.Time { return utc("2026-03-02T00:00:00Z") },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = svc.SyncOnce(t.Context())
	return svc
}

func TestFreeBusyHandler(t *testing.T) {
	svc := newHTTPService(t)
	tests := []struct {
		name, url string
		code      int
		busy      []Interval
		free      []Interval
	}{
		{"busy and free in working hours", "/api/v1/agents/alice/freebusy?from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z&slot=2h", 200,
			[]Interval{iv("2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")},
			[]Interval{iv("2026-03-02T10:00:00Z", "2026-03-02T12:00:00Z"), iv("2026-03-02T12:00:00Z", "2026-03-02T14:00:00Z"), iv("2026-03-02T14:00:00Z", "2026-03-02T16:00:00Z")}},
		{"CEST monday after the DST change", "/api/v1/agents/alice/freebusy?from=2026-03-30T00:00:00Z&to=2026-03-31T00:00:00Z&slot=4h", 200,
			[]Interval{iv("2026-03-30T07:30:00Z", "2026-03-30T08:00:00Z")},
			[]Interval{iv("2026-03-30T11:00:00Z", "2026-03-30T15:00:00Z")}},
		{"beyond the synced window no free time is claimed", "/api/v1/agents/alice/freebusy?from=2026-05-04T00:00:00Z&to=2026-05-05T00:00:00Z", 200, nil, nil},
		{"never synced agent", "/api/v1/agents/bob/freebusy", 200, nil, nil},
		{"unknown agent", "/api/v1/agents/zed/freebusy", 404, nil, nil},
		{"bad from", "/api/v1/agents/alice/freebusy?from=yesterday", 400, nil, nil},
		{"to before from", "/api/v1/agents/alice/freebusy?from=2026-03-03T00:00:00Z&to=2026-03-02T00:00:00Z", 400, nil, nil},
		{"bad slot", "/api/v1/agents/alice/freebusy?slot=1m", 400, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			svc.Handler(writeTestError).ServeHTTP(rec, httptest.NewRequest("GET", tc.url, nil))
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code != 200 {
				var e struct {
					Error struct{ Code, Message string }
				}
				if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
					t.Fatalf("error body %s, want the API's common error shape", rec.Body)
				}
				return
			}
			var resp struct {
				AgentID string     `json:"agent_id"`
				From    time.Time  `json:"from"`
				To      time.Time  `json:"to"`
				Busy    []Interval `json:"busy"`
				Free    []Interval `json:"free"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if resp.AgentID == "" || resp.Free == nil || resp.Busy == nil && strings.Contains(rec.Body.String(), `"busy":null`) {
				t.Errorf("body %s", rec.Body)
			}
			assertIntervals(t, resp.Busy, tc.busy)
			assertIntervals(t, resp.Free, tc.free)
		})
	}
}

// feedTok is the token of the agent's current feed URL.
func feedTok(t *testing.T, svc *Service, agent string) string {
	t.Helper()
	u, err := svc.FeedURL(context.Background(), "https://desk.example/", agent)
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutPrefix(u, "https://desk.example/freebusy/")
	if !ok {
		t.Fatalf("FeedURL = %q", u)
	}
	return strings.TrimSuffix(tok, ".ics")
}

func TestFeed(t *testing.T) {
	svc := newHTTPService(t)
	tok := feedTok(t, svc, "alice")
	if len(tok) != 26 || tok == feedTok(t, svc, "bob") || strings.ToLower(tok) != tok {
		t.Fatalf("token %q", tok)
	}
	if _, err := svc.FeedURL(context.Background(), "https://desk.example/", "nobody"); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("FeedURL of an unknown agent: %v", err)
	}
	tests := []struct {
		name, path string
		code       int
	}{
		{"valid", "/freebusy/" + tok + ".ics", 200},
		{"never synced agent", "/freebusy/" + feedTok(t, svc, "bob") + ".ics", 503},
		{"wrong token", "/freebusy/" + strings.Repeat("a", 26) + ".ics", 404},
		{"truncated token", "/freebusy/" + tok[:20] + ".ics", 404},
		{"no suffix", "/freebusy/" + tok, 404},
		{"agent id is no token", "/freebusy/alice.ics", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			svc.FeedHandler().ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d", rec.Code, tc.code)
			}
			if tc.code != 200 {
				return
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/calendar") {
				t.Errorf("content type %q", ct)
			}
			for _, line := range strings.Split(rec.Body.String(), "\r\n") {
				if len(line) > 75 {
					t.Errorf("line longer than 75 octets (RFC 5545 3.1): %q", line)
				}
			}
			cal, err := ical.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode()
			if err != nil {
				t.Fatal(err)
			}
			if len(cal.Children) != 1 || cal.Children[0].Name != ical.CompFreeBusy {
				t.Fatalf("components %v", cal.Children)
			}
			fb := cal.Children[0]
			var got []string
			for _, p := range fb.Props.Values(ical.PropFreeBusy) {
				got = append(got, p.Params.Get(ical.ParamFreeBusyType)+" "+p.Value)
			}
			want := []string{"BUSY 20260302T090000Z/20260302T100000Z", "BUSY 20260330T073000Z/20260330T080000Z"}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("FREEBUSY %q, want %q", got, want)
			}
			for prop, val := range map[string]string{ical.PropDateTimeStart: "20260302T000000Z", ical.PropDateTimeEnd: "20260401T000000Z", ical.PropDateTimeStamp: "20260302T000000Z"} {
				if v := propValue(fb, prop); v != val {
					t.Errorf("%s = %q, want %q", prop, v, val)
				}
			}
			if propValue(fb, ical.PropUID) == "" || strings.Contains(rec.Body.String(), "alice") {
				t.Errorf("UID missing or agent id exposed:\n%s", rec.Body)
			}
		})
	}
	if disabled, _ := New(Options{Store: svc.st, Agents: svc.agents}); disabled.feedToken("alice", 0) != "" {
		t.Error("feed without secret must be disabled")
	} else if u, _ := disabled.FeedURL(context.Background(), "http://x", "alice"); u != "" {
		t.Errorf("feed without secret: URL %q", u)
	}
}

// TestFeedRotation: rotating one agent's feed gives it a new URL, the old
// one answers 404, and other agents' URLs stay.
func TestFeedRotation(t *testing.T) {
	svc := newHTTPService(t)
	oldAlice, bob := feedTok(t, svc, "alice"), feedTok(t, svc, "bob")
	u, err := svc.RotateFeed(context.Background(), "https://desk.example", "alice")
	if err != nil {
		t.Fatal(err)
	}
	newAlice := feedTok(t, svc, "alice")
	if newAlice == oldAlice || !strings.Contains(u, newAlice) || feedTok(t, svc, "bob") != bob {
		t.Fatalf("after rotation: alice %s (was %s), bob %s (was %s), url %s", newAlice, oldAlice, feedTok(t, svc, "bob"), bob, u)
	}
	for tok, want := range map[string]int{oldAlice: 404, newAlice: 200} {
		rec := httptest.NewRecorder()
		svc.FeedHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/freebusy/"+tok+".ics", nil))
		if rec.Code != want {
			t.Errorf("token %s: %d, want %d", tok, rec.Code, want)
		}
	}
	if _, err := svc.RotateFeed(context.Background(), "https://desk.example", "nobody"); !errors.Is(err, ticket.ErrNotFound) {
		t.Errorf("rotate an unknown agent: %v", err)
	}
}

func TestSyncHandler(t *testing.T) {
	svc := newHTTPService(t)
	tests := []struct {
		agent string
		code  int
	}{{"alice", 200}, {"bob", 502}, {"zed", 404}}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		svc.Handler(writeTestError).ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/agents/"+tc.agent+"/freebusy/sync", nil))
		if rec.Code != tc.code {
			t.Errorf("%s: code %d, want %d: %s", tc.agent, rec.Code, tc.code, rec.Body)
		}
	}
	var _ http.Handler = svc.Handler(writeTestError)
}

// writeTestError answers in the API's error shape, as the HTTP front's
// WriteError does.
func writeTestError(w http.ResponseWriter, _ *http.Request, status int, code, msg string, _ error) {
	writeJSON(w, status, map[string]map[string]string{"error": {"code": code, "message": msg}})
}
