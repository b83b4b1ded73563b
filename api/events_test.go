package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

type eventsPage struct {
	Events []struct {
		ID       int64           `json:"id"`
		Type     string          `json:"type"`
		TicketID *int64          `json:"ticket_id"`
		Data     json.RawMessage `json:"data"`
	} `json:"events"`
	NextAfter int64 `json:"next_after"`
}

// TestEventPages: the tenant's events in order, paged by after and
// limit, filtered by type; another tenant's token sees none of them.
func TestEventPages(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		f.ingest(inMail{from: "c" + strconv.Itoa(i) + "@customer.example", subject: "Help " + strconv.Itoa(i)})
	}
	f.ingest(inMail{tenant: "other", from: "x@other.example", subject: "Other"})
	res, body := f.get("/api/v1/events?limit=2", f.tokenA)
	if res.StatusCode != 200 {
		t.Fatalf("GET /api/v1/events: %d %s", res.StatusCode, body)
	}
	p := decode[eventsPage](t, body)
	if len(p.Events) != 2 || p.Events[0].ID >= p.Events[1].ID || p.NextAfter != p.Events[1].ID {
		t.Fatalf("first page %+v", p)
	}
	var all []int64
	for after := int64(0); ; {
		_, body := f.get("/api/v1/events?limit=2&after="+strconv.FormatInt(after, 10), f.tokenA)
		p := decode[eventsPage](t, body)
		if len(p.Events) == 0 {
			if p.NextAfter != after {
				t.Errorf("empty page moved next_after from %d to %d", after, p.NextAfter)
			}
			break
		}
		for _, e := range p.Events {
			all = append(all, e.ID)
		}
		after = p.NextAfter
	}
	if len(all) < 3 {
		t.Fatalf("paged through %d events, want at least one per mail", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("events out of order or repeated: %v", all)
		}
	}
	_, body = f.get("/api/v1/events?type=ticket.created", f.tokenA)
	created := decode[eventsPage](t, body)
	if len(created.Events) != 3 {
		t.Errorf("%d ticket.created events, want 3", len(created.Events))
	}
	for _, e := range created.Events {
		if e.Type != "ticket.created" || e.TicketID == nil || !strings.Contains(string(e.Data), "ticket_number") {
			t.Errorf("event %+v", e)
		}
	}
	_, body = f.get("/api/v1/events?type=ticket.created", f.tokenB)
	if other := decode[eventsPage](t, body); len(other.Events) != 1 {
		t.Errorf("other tenant sees %d ticket.created events, want its own 1", len(other.Events))
	}
	for _, q := range []string{"limit=0", "limit=x", "after=-1", "type=DROP TABLE", "foo=1"} {
		res, body := f.get("/api/v1/events?"+strings.ReplaceAll(q, " ", "%20"), f.tokenA)
		if code, msg := apiError(t, body); res.StatusCode != 400 || code != "invalid_parameter" || msg == "" {
			t.Errorf("%s: %d %s", q, res.StatusCode, body)
		}
	}
}

// sseClient reads a Server-Sent Events stream.
type sseClient struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func openStream(t *testing.T, f *fixture, lastID string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokenA)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseClient{resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next event's id and type, failing after timeout.
func (c *sseClient) next(t *testing.T, timeout time.Duration) (int64, string) {
	t.Helper()
	type ev struct {
		id  int64
		typ string
		err error
	}
	ch := make(chan ev, 1)
	go func() {
		var e ev
		for c.sc.Scan() {
			line := c.sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				e.id, e.err = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
			case strings.HasPrefix(line, "event: "):
				e.typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if !json.Valid([]byte(strings.TrimPrefix(line, "data: "))) {
					e.err = errInvalidData
				}
			case line == "" && e.id != 0:
				ch <- e
				return
			}
		}
		ch <- ev{err: c.sc.Err()}
	}()
	select {
	case e := <-ch:
		if e.err != nil || e.id == 0 {
			t.Fatalf("stream: %+v", e)
		}
		return e.id, e.typ
	case <-time.After(timeout):
		t.Fatalf("no event within %v", timeout)
	}
	return 0, ""
}

var errInvalidData = &json.SyntaxError{}

// TestEventStream: the stream sends what is stored, then new events as
// they commit; a reconnect with Last-Event-ID goes on without gaps or
// repeats.
func TestEventStream(t *testing.T) {
	f := newFixture(t)
	f.ingest(inMail{from: "a@customer.example", subject: "First"})
	_, body := f.get("/api/v1/events", f.tokenA)
	stored := decode[eventsPage](t, body).Events
	s := openStream(t, f, "")
	var got []int64
	for range stored {
		id, _ := s.next(t, 5*time.Second)
		got = append(got, id)
	}
	start := time.Now()
	f.ingest(inMail{from: "b@customer.example", subject: "Second"})
	id, typ := s.next(t, 5*time.Second)
	if lag := time.Since(start); lag > 2*time.Second {
		t.Errorf("a committed event took %v to reach the stream", lag)
	}
	if typ != "ticket.created" && typ != "message.received" {
		t.Errorf("new event type %q", typ)
	}
	got = append(got, id)
	s.resp.Body.Close()
	// Reconnect after the first event: the rest, then the next new one.
	s2 := openStream(t, f, strconv.FormatInt(got[0], 10))
	_, body = f.get("/api/v1/events?after="+strconv.FormatInt(got[0], 10), f.tokenA)
	rest := decode[eventsPage](t, body).Events
	var again []int64
	for range rest {
		id, _ := s2.next(t, 5*time.Second)
		again = append(again, id)
	}
	for i, e := range rest {
		if again[i] != e.ID {
			t.Fatalf("after reconnect got %v, want the events after %d: %v", again, got[0], rest)
		}
	}
	f.ingest(inMail{from: "c@customer.example", subject: "Third"})
	if id, _ := s2.next(t, 5*time.Second); id <= again[len(again)-1] {
		t.Errorf("new event %d after %d: repeated or out of order", id, again[len(again)-1])
	}
}
