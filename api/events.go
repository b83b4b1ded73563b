package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// Events is the event log the stream reads; *store.Store implements it.
type Events interface {
	// TenantEvents returns the tenant's events after afterID, in order,
	// at most limit, of types only when types is not empty.
	TenantEvents(ctx context.Context, tenant string, afterID int64, limit int, types []string) ([]ticket.Event, error)
	// EventsCommitted is closed when a transaction that appended events
	// commits (take it before reading, then wait on it).
	EventsCommitted() <-chan struct{}
}

// eventJSON is one event of GET /api/v1/events.
type eventJSON struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	TicketID  *int64          `json:"ticket_id"`
	MessageID *int64          `json:"message_id"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

func toEventJSON(e ticket.Event) eventJSON {
	out := eventJSON{ID: e.ID, Type: e.Type, CreatedAt: fmtTime(e.CreatedAt), Data: json.RawMessage(e.Payload)}
	if len(out.Data) == 0 || !json.Valid(out.Data) {
		out.Data = json.RawMessage("{}")
	}
	if e.TicketID != 0 {
		id := e.TicketID
		out.TicketID = &id
	}
	if e.MessageID != 0 {
		id := e.MessageID
		out.MessageID = &id
	}
	return out
}

var eventTypeRE = regexp.MustCompile(`^[a-z_]+\.[a-z_]+$`)

// Stream timing: a comment line when nothing happened for heartbeat (so
// proxies and clients see a live connection), and the answer's write
// deadline moved forward by writeWindow at every write (the server's
// WriteTimeout would end a stream otherwise).
const (
	heartbeat   = 15 * time.Second
	writeWindow = time.Minute
	streamBatch = 100
)

// events serves GET /api/v1/events: the tenant's committed events in order.
// As JSON (the default) one page: ?after=ID (default 0), ?limit=N (1-1000,
// default 100), ?type=a,b; the answer's next_after continues. With Accept:
// text/event-stream, Server-Sent Events from after (or the Last-Event-ID
// header) on, each with id: the event id, as they commit, with heartbeats.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "after", "limit", "type":
		default:
			s.writeError(w, r, http.StatusBadRequest, "invalid_parameter",
				k+": unknown parameter (known: after, limit, type)", nil)
			return
		}
	}
	after, err := parseAfter(q.Get("after"), r.Header.Get("Last-Event-ID"))
	if err != nil {
		s.writeError(w, r, http.StatusBadRequest, "invalid_parameter", err.Error(), nil)
		return
	}
	limit := streamBatch
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			s.writeError(w, r, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("limit: %q is not a number from 1 to 1000", v), nil)
			return
		}
	}
	var types []string
	if v := q.Get("type"); v != "" {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); !eventTypeRE.MatchString(t) {
				s.writeError(w, r, http.StatusBadRequest, "invalid_parameter",
					fmt.Sprintf("type: %q is not an event type (like ticket.created)", t), nil)
				return
			}
			types = append(types, t)
		}
	}
	tenant := tenantOf(r)
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		s.streamEvents(w, r, tenant, after, types)
		return
	}
	evs, err := s.opts.Events.TenantEvents(r.Context(), tenant, after, limit, types)
	if err != nil {
		s.writeStoreError(w, r, "events", err)
		return
	}
	body := struct {
		Events    []eventJSON `json:"events"`
		NextAfter int64       `json:"next_after"` // pass as ?after= for the next page
	}{Events: make([]eventJSON, 0, len(evs)), NextAfter: after}
	for _, e := range evs {
		body.Events = append(body.Events, toEventJSON(e))
		body.NextAfter = e.ID
	}
	s.writeJSON(w, r, http.StatusOK, body)
}

// parseAfter reads the position to resume from: ?after= wins over
// Last-Event-ID (an SSE client's reconnect).
func parseAfter(after, lastEventID string) (int64, error) {
	v, name := after, "after"
	if v == "" {
		v, name = lastEventID, "Last-Event-ID"
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not an event id (a number)", name, v)
	}
	return n, nil
}

// streamEvents writes events as Server-Sent Events until the client goes.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, tenant string, after int64, types []string) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWindow))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The retry hint: reconnect after 2 s (with Last-Event-ID).
	if !write([]byte("retry: 2000\n\n")) {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		wake := s.opts.Events.EventsCommitted() // before reading: no commit is missed
		evs, err := s.opts.Events.TenantEvents(ctx, tenant, after, streamBatch, types)
		if err != nil {
			if ctx.Err() == nil {
				s.log.LogAttrs(ctx, slog.LevelError, "api: event stream read failed", slog.String("error", err.Error()))
				write([]byte("event: error\ndata: {\"message\":\"reading events failed; reconnect\"}\n\n"))
			}
			return
		}
		var buf strings.Builder
		for _, e := range evs {
			b, _ := json.Marshal(toEventJSON(e))
			fmt.Fprintf(&buf, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b)
			after = e.ID
		}
		if buf.Len() > 0 {
			if !write([]byte(buf.String())) {
				return
			}
			tick.Reset(heartbeat)
			if len(evs) == streamBatch {
				continue // more to catch up on
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
			if !write([]byte(": keepalive\n\n")) {
				return
			}
		}
	}
}
