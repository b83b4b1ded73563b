package calendar

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

const (
	defaultSlot = 30 * time.Minute
	maxRange    = 366 * 24 * time.Hour
)

// Handler serves the JSON API; the caller wraps it with bearer-token auth
// and passes the HTTP front's error writer (api.Server.WriteError), which
// owns the error shape of every /api/v1 route.
//
//	GET  /api/v1/agents/{id}/freebusy?from=RFC3339&to=RFC3339[&slot=30m]
//	POST /api/v1/agents/{id}/freebusy/sync   (sync now, answers the status)
func (s *Service) Handler(writeError ErrorWriter) http.Handler {
	if writeError == nil {
		panic("calendar: Handler needs the API's error writer")
	}
	h := &apiHandler{s: s, writeError: writeError}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/agents/{id}/freebusy", h.handleFreeBusy)
	mux.HandleFunc("POST /api/v1/agents/{id}/freebusy/sync", h.handleSync)
	return mux
}

// apiHandler is the JSON API over a Service.
type apiHandler struct {
	s          *Service
	writeError ErrorWriter
}

// FeedHandler serves the public iCalendar free/busy feeds at
// GET /freebusy/{token}.ics. It needs no other auth: the unguessable token is
// the credential (see FeedURL).
func (s *Service) FeedHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /freebusy/{file}", s.handleFeed)
	return mux
}

// freeBusyResponse is the JSON of GET /api/v1/agents/{id}/freebusy.
type freeBusyResponse struct {
	AgentID string     `json:"agent_id"`
	From    time.Time  `json:"from"`
	To      time.Time  `json:"to"`
	Busy    []Interval `json:"busy"`
	Free    []Interval `json:"free"`
}

func (h *apiHandler) handleFreeBusy(w http.ResponseWriter, r *http.Request) {
	s := h.s
	a, ok := s.byID[r.PathValue("id")]
	if !ok {
		h.httpError(w, r, http.StatusNotFound, "not_found", "unknown agent", ticket.ErrNotFound)
		return
	}
	q := r.URL.Query()
	now := s.now().UTC().Truncate(time.Second)
	from, to := now, time.Time{}
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			h.httpError(w, r, http.StatusBadRequest, "invalid_parameter", "from: want an RFC 3339 time", nil)
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339, v); err != nil {
			h.httpError(w, r, http.StatusBadRequest, "invalid_parameter", "to: want an RFC 3339 time", nil)
			return
		}
	} else {
		to = from.Add(s.window)
	}
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) || to.Sub(from) > maxRange {
		h.httpError(w, r, http.StatusBadRequest, "invalid_parameter", "from must be before to, at most 366 days apart", nil)
		return
	}
	slot := defaultSlot
	if v := q.Get("slot"); v != "" {
		if slot, err = time.ParseDuration(v); err != nil || slot < 5*time.Minute || slot > 24*time.Hour {
			h.httpError(w, r, http.StatusBadRequest, "invalid_parameter", "slot: want a duration from 5m to 24h", nil)
			return
		}
	}
	sb, err := s.st.StoredBusy(r.Context(), s.tenant, a.ID, from, to)
	if err != nil {
		h.httpError(w, r, http.StatusInternalServerError, "internal", "internal server error", err)
		return
	}
	resp := freeBusyResponse{AgentID: a.ID, From: from, To: to, Busy: normalize(sb.Busy, from, to), Free: []Interval{}}
	// Free time is claimed only where it is known: inside the synced window.
	if !sb.Window[0].IsZero() {
		kf, kt := maxTime(from, sb.Window[0]), minTime(to, sb.Window[1])
		if kf.Before(kt) {
			if f := FreeSlots(a.Hours, a.location(), kf, kt, resp.Busy, slot); f != nil {
				resp.Free = f
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *apiHandler) handleSync(w http.ResponseWriter, r *http.Request) {
	s := h.s
	id := r.PathValue("id")
	if _, ok := s.byID[id]; !ok {
		h.httpError(w, r, http.StatusNotFound, "not_found", "unknown agent", ticket.ErrNotFound)
		return
	}
	st, err := s.SyncAgent(r.Context(), id)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, st)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// feedToken is the secret part of an agent's feed URL at a generation:
// base32(HMAC-SHA256(FeedSecret, agent id, and "\x00" and the generation
// when above 0)), lower case, first 26 characters (130 bits). Empty when
// the feed is disabled.
func (s *Service) feedToken(agentID string, gen int) string {
	if len(s.feedSecret) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, s.feedSecret)
	m.Write([]byte(agentID))
	if gen > 0 {
		m.Write([]byte("\x00" + strconv.Itoa(gen)))
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil))
	return strings.ToLower(enc[:26])
}

// FeedURL is the agent's public free/busy feed at its current generation,
// to hand to calendar clients as an Internet free/busy address. Empty when
// the feed is disabled; ticket.ErrNotFound for an unknown agent.
func (s *Service) FeedURL(ctx context.Context, publicURL, agentID string) (string, error) {
	if s.agent(agentID) == nil {
		return "", fmt.Errorf("calendar: agent %q: %w", agentID, ticket.ErrNotFound)
	}
	gens, err := s.st.FeedGenerations(ctx, s.tenant)
	if err != nil {
		return "", err
	}
	tok := s.feedToken(agentID, gens[agentID])
	if tok == "" {
		return "", nil
	}
	return strings.TrimRight(publicURL, "/") + "/freebusy/" + tok + ".ics", nil
}

// RotateFeed gives the agent a new feed URL; the old one answers 404 from
// now on. Other agents' URLs do not change.
func (s *Service) RotateFeed(ctx context.Context, publicURL, agentID string) (string, error) {
	if s.agent(agentID) == nil {
		return "", fmt.Errorf("calendar: agent %q: %w", agentID, ticket.ErrNotFound)
	}
	if _, err := s.st.RotateFeed(ctx, s.tenant, agentID); err != nil {
		return "", err
	}
	return s.FeedURL(ctx, publicURL, agentID)
}

func (s *Service) agent(id string) *Agent {
	for i := range s.agents {
		if s.agents[i].ID == id {
			return &s.agents[i]
		}
	}
	return nil
}

func (s *Service) handleFeed(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutSuffix(r.PathValue("file"), ".ics")
	if !ok || len(s.feedSecret) == 0 {
		http.NotFound(w, r)
		return
	}
	gens, err := s.st.FeedGenerations(r.Context(), s.tenant)
	if err != nil {
		http.Error(w, "free/busy is unavailable right now", http.StatusServiceUnavailable)
		return
	}
	var agent *Agent
	for i := range s.agents {
		// Compare with every agent, in constant time, so the answer's
		// timing says nothing about how much of a token was right.
		if subtle.ConstantTimeCompare([]byte(s.feedToken(s.agents[i].ID, gens[s.agents[i].ID])), []byte(tok)) == 1 {
			agent = &s.agents[i]
		}
	}
	if agent == nil {
		http.NotFound(w, r)
		return
	}
	now := s.now().UTC().Truncate(time.Second)
	sb, err := s.st.StoredBusy(r.Context(), s.tenant, agent.ID, now.Add(-maxRange), now.Add(maxRange))
	if err != nil {
		s.logger.ErrorContext(r.Context(), "calendar: feed", "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	if sb.Window[0].IsZero() {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "free/busy not synced yet", http.StatusServiceUnavailable)
		return
	}
	body, err := encodeFreeBusy(tok, now, sb.Window, normalize(sb.Busy, sb.Window[0], sb.Window[1]))
	if err != nil {
		s.logger.ErrorContext(r.Context(), "calendar: feed", "err", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Cache-Control", "private, max-age=60")
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrorWriter answers an error of the JSON API in the HTTP edge's common
// shape and logs it once: status, a machine-readable code ("not_found",
// "invalid_parameter", "internal"), a message for people, and the cause
// (for the log only).
type ErrorWriter func(w http.ResponseWriter, r *http.Request, status int, code, msg string, err error)

// httpError answers through the API's error writer.
func (h *apiHandler) httpError(w http.ResponseWriter, r *http.Request, status int, code, msg string, err error) {
	h.writeError(w, r, status, code, msg, err)
}
