// Package gmailtest is a fake Gmail API (gmail/v1 REST) on an httptest server,
// for the tests and benchmarks of package gmailsource and the end-to-end
// tests of sidedesk. It speaks the shapes sidedesk uses: users.getProfile,
// users.messages.list (q, pageToken), users.messages.get (format=raw),
// users.history.list (startHistoryId, 404 when too old), users.labels.list and
// create, users.messages.modify and batchModify, users.messages.send (the
// metadata URI with raw, and the upload URI with uploadType=media or
// multipart; threadId honoured when it names a thread), users.watch (optionally
// publishing Pub/Sub push requests to a URL, as a push subscription would),
// plus an OAuth 2.0 token endpoint (refresh_token and JWT-bearer grants).
// Knobs inject 429, 403 and 5xx answers and expire history.
//
// It is not a Gmail emulator: queries understand in:, label:, from:, after:,
// before:, is:unread and rfc822msgid: terms only, and a message's thread
// id is its own id unless it was sent into a thread.
package gmailtest

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// System labels every fake mailbox has (Gmail's ids equal their names).
var systemLabels = []string{"INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT",
	"CATEGORY_PERSONAL", "CATEGORY_UPDATES", "CATEGORY_FORUMS", "CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL"}

// Options configures a Server. The zero value is a usable unauthenticated
// server for support@acme.example.
type Options struct {
	// User is the mailbox address "me" stands for. Default support@acme.example.
	User string
	// RequireAuth makes every API request need a bearer token issued by the
	// token endpoint (401 otherwise).
	RequireAuth bool
	// ClientID, ClientSecret and RefreshToken are what the refresh_token
	// grant accepts; empty fields accept anything.
	ClientID, ClientSecret, RefreshToken string
	// ServiceAccountKey, when set, verifies the RS256 signature of
	// JWT-bearer assertions.
	ServiceAccountKey *rsa.PublicKey
	// TokenLifetime is the expires_in of issued access tokens. Default 1h.
	TokenLifetime time.Duration
	// HistoryPageSize caps history records per history.list page when the
	// client asks for more (or nothing). Default 100 (Gmail's default).
	HistoryPageSize int
	// Start is the internalDate of the first message; later messages are one
	// second apart. Default: the time New is called, truncated to seconds.
	Start time.Time
	// WatchExpiry is how long a users.watch lasts (its "expiration" is the
	// time of the call plus this). Default 7 days, as Gmail.
	WatchExpiry time.Duration
}

// Fault is an injected error answer.
type Fault struct {
	// Op is the operation to fail: "profile", "messages.list",
	// "messages.get", "messages.modify", "messages.batchModify",
	// "history.list", "labels.list", "labels.create", "watch", "token";
	// "" = any.
	Op string
	// Status is the HTTP status, e.g. 429, 403, 500, 503.
	Status int
	// Reason is the errors[0].reason, e.g. "rateLimitExceeded",
	// "userRateLimitExceeded"; default derived from Status.
	Reason string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Message, when set, is the error message (default "injected fault: <reason>").
	Message string
	// ID, when set, limits the fault to requests for that message id
	// (messages.get, messages.modify).
	ID string
	// Times is how many matching requests fail; default 1.
	Times int
}

// Message is one stored message of the fake mailbox.
type Message struct {
	ID           string
	ThreadID     string
	Raw          []byte
	Labels       []string
	InternalDate time.Time
	HistoryID    uint64
}

type historyRecord struct {
	ID          uint64
	Kind        string // "messageAdded" | "labelAdded"
	MessageID   string
	Labels      []string // the message's labels when the record was written
	AddedLabels []string
}

type label struct{ ID, Name, Type string }

type mailbox struct {
	email      string
	historyID  uint64
	minHistory uint64 // history.list with startHistoryId < minHistory answers 404
	msgs       []*Message
	byID       map[string]*Message
	history    []historyRecord
	labels     []label
	nextLabel  int
	watches    []Watch // successful users.watch calls, oldest first
}

// Server is the fake Gmail API. Its methods are safe for concurrent use.
type Server struct {
	srv  *httptest.Server
	opts Options

	mu       sync.Mutex
	boxes    map[string]*mailbox
	seq      uint64
	faults   []Fault
	requests map[string]int
	tokens   map[string]time.Time
	subjects []string
	scopes   []string
	nextTok  int
	pushURL  string
	pushSeq  int
	pushes   sync.WaitGroup
}

// New starts a fake Gmail API server on a loopback port. Close it when done.
func New(opts Options) *Server {
	if opts.User == "" {
		opts.User = "support@acme.example"
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.HistoryPageSize <= 0 {
		opts.HistoryPageSize = 100
	}
	if opts.Start.IsZero() {
		opts.Start = time.Now().Truncate(time.Second)
	}
	if opts.WatchExpiry <= 0 {
		opts.WatchExpiry = 7 * 24 * time.Hour
	}
	s := &Server{
		opts:     opts,
		boxes:    map[string]*mailbox{},
		requests: map[string]int{},
		tokens:   map[string]time.Time{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("GET /gmail/v1/users/{user}/profile", s.api("profile", s.profile))
	mux.HandleFunc("GET /gmail/v1/users/{user}/messages", s.api("messages.list", s.listMessages))
	mux.HandleFunc("GET /gmail/v1/users/{user}/messages/{id}", s.api("messages.get", s.getMessage))
	mux.HandleFunc("POST /gmail/v1/users/{user}/messages/{id}/modify", s.api("messages.modify", s.modify))
	mux.HandleFunc("POST /gmail/v1/users/{user}/messages/batchModify", s.api("messages.batchModify", s.batchModify))
	mux.HandleFunc("GET /gmail/v1/users/{user}/history", s.api("history.list", s.listHistory))
	mux.HandleFunc("GET /gmail/v1/users/{user}/labels", s.api("labels.list", s.listLabels))
	mux.HandleFunc("POST /gmail/v1/users/{user}/labels", s.api("labels.create", s.createLabel))
	mux.HandleFunc("POST /gmail/v1/users/{user}/watch", s.api("watch", s.watch))
	mux.HandleFunc("POST /gmail/v1/users/{user}/messages/send", s.api("messages.send", s.send))
	mux.HandleFunc("POST /upload/gmail/v1/users/{user}/messages/send", s.api("messages.send", s.send))
	s.srv = httptest.NewServer(mux)
	return s
}

// URL is the API base URL, with a trailing slash (gmailsource Options.BaseURL).
func (s *Server) URL() string { return s.srv.URL + "/" }

// TokenURL is the OAuth 2.0 token endpoint.
func (s *Server) TokenURL() string { return s.srv.URL + "/token" }

// Close shuts the server down after the push requests under way.
func (s *Server) Close() {
	s.pushes.Wait()
	s.srv.Close()
}

// Client is an HTTP client for the server (no auth) that keeps enough idle
// connections for parallel fetches (HTTP/1.1 here, unlike Gmail's HTTP/2).
func (s *Server) Client() *http.Client {
	c := *s.srv.Client()
	if t, ok := c.Transport.(*http.Transport); ok {
		t = t.Clone()
		t.MaxIdleConnsPerHost = 64
		c.Transport = t
	}
	return &c
}

// User is the address "me" stands for.
func (s *Server) User() string { return s.opts.User }

func (s *Server) box(user string) *mailbox {
	if user == "me" || user == "" {
		user = s.opts.User
	}
	user = strings.ToLower(user)
	b := s.boxes[user]
	if b == nil {
		b = &mailbox{email: user, historyID: 1000, byID: map[string]*Message{}}
		for _, l := range systemLabels {
			b.labels = append(b.labels, label{ID: l, Name: l, Type: "system"})
		}
		s.boxes[user] = b
	}
	return b
}

// AddMessage delivers raw to user's mailbox ("" or "me" = Options.User)
// with the given label ids (default INBOX and UNREAD) and returns its id.
// It writes a messageAdded history record.
func (s *Server) AddMessage(user string, raw []byte, labels ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(user)
	if len(labels) == 0 {
		labels = []string{"INBOX", "UNREAD"}
	}
	s.seq++
	b.historyID++
	m := &Message{
		ID:           fmt.Sprintf("%016x", 0x18c0000000000000+s.seq),
		Raw:          bytes.Clone(raw),
		Labels:       slices.Clone(labels),
		InternalDate: s.opts.Start.Add(time.Duration(s.seq-1) * time.Second),
		HistoryID:    b.historyID,
	}
	m.ThreadID = m.ID
	b.msgs = append(b.msgs, m)
	b.byID[m.ID] = m
	b.history = append(b.history, historyRecord{ID: b.historyID, Kind: "messageAdded", MessageID: m.ID, Labels: slices.Clone(m.Labels)})
	s.publish(b, m.Labels)
	return m.ID
}

// Sent returns the messages sent through users.messages.send, oldest
// first.
func (s *Server) Sent(user string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.box(user).msgs {
		if slices.Contains(m.Labels, "SENT") {
			c := *m
			c.Raw, c.Labels = bytes.Clone(m.Raw), slices.Clone(m.Labels)
			out = append(out, c)
		}
	}
	return out
}

// AddLabels adds label ids to a message and writes a labelAdded record.
func (s *Server) AddLabels(user, id string, labels ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLabels(s.box(user), id, labels)
}

func (s *Server) addLabels(b *mailbox, id string, labels []string) bool {
	m := b.byID[id]
	if m == nil {
		return false
	}
	var added []string
	for _, l := range labels {
		if !slices.Contains(m.Labels, l) {
			m.Labels = append(m.Labels, l)
			added = append(added, l)
		}
	}
	if len(added) > 0 {
		b.historyID++
		m.HistoryID = b.historyID
		b.history = append(b.history, historyRecord{ID: b.historyID, Kind: "labelAdded", MessageID: id,
			Labels: slices.Clone(m.Labels), AddedLabels: added})
		s.publish(b, m.Labels)
	}
	return true
}

// DeleteMessage removes a message (as if deleted forever); history keeps
// its messageAdded record, so a later get answers 404.
func (s *Server) DeleteMessage(user, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(user)
	delete(b.byID, id)
	b.msgs = slices.DeleteFunc(b.msgs, func(m *Message) bool { return m.ID == id })
	b.historyID++
}

// ExpireHistory drops every history record so far: a history.list from any
// earlier historyId answers 404, as Gmail does after about a week.
func (s *Server) ExpireHistory(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(user)
	b.historyID++
	b.minHistory = b.historyID
	b.history = nil
}

// HistoryID is the mailbox's current history id.
func (s *Server) HistoryID(user string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.box(user).historyID
}

// Labels returns the label ids of a message (nil if there is none).
func (s *Server) Labels(user, id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.box(user).byID[id]; m != nil {
		return slices.Clone(m.Labels)
	}
	return nil
}

// LabelID returns the id of the label named name, or "".
func (s *Server) LabelID(user, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.box(user).labels {
		if strings.EqualFold(l.Name, name) {
			return l.ID
		}
	}
	return ""
}

// MessageIDs returns the ids of user's messages in delivery order.
func (s *Server) MessageIDs(user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, m := range s.box(user).msgs {
		ids = append(ids, m.ID)
	}
	return ids
}

// InjectFault queues an error answer for the next matching requests.
func (s *Server) InjectFault(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// ClearFaults drops the injected faults not yet spent.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns how many requests each operation got (faulted ones
// included), keyed by the Fault.Op names.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// TotalRequests is the sum of Requests, token requests excluded.
func (s *Server) TotalRequests() int {
	n := 0
	for k, v := range s.Requests() {
		if k != "token" {
			n += v
		}
	}
	return n
}

// ResetRequests zeroes the request counters.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.requests)
}

// Subjects returns the "sub" claims of the JWT-bearer grants received, in
// order (service-account impersonation).
func (s *Server) Subjects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.subjects)
}

// Scopes returns the "scope" claims of the JWT-bearer grants received.
func (s *Server) Scopes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.scopes)
}

// takeFault counts the request and returns a fault to answer with, if any.
// s.mu must be held.
func (s *Server) takeFault(op, id string) *Fault {
	s.requests[op]++
	for i := range s.faults {
		f := &s.faults[i]
		if (f.Op != "" && f.Op != op) || (f.ID != "" && f.ID != id) {
			continue
		}
		out := *f
		f.Times--
		if f.Times <= 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		return &out
	}
	return nil
}

// writeError answers in Google's JSON error format.
func writeError(w http.ResponseWriter, code int, reason, msg string) {
	status := map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
		404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}[code]
	domain := "global"
	if strings.Contains(reason, "RateLimit") || strings.Contains(reason, "rateLimit") {
		domain = "usageLimits"
	}
	body := map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"errors":  []any{map[string]any{"message": msg, "domain": domain, "reason": reason}},
		"status":  status,
	}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

// api wraps a handler with request counting, fault injection and auth; the
// handler runs with s.mu held.
func (s *Server) api(op string, h func(w http.ResponseWriter, r *http.Request, b *mailbox)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if f := s.takeFault(op, r.PathValue("id")); f != nil {
			reason := f.Reason
			if reason == "" {
				switch {
				case f.Status == 429:
					reason = "rateLimitExceeded"
				case f.Status >= 500:
					reason = "backendError"
				default:
					reason = "forbidden"
				}
			}
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			msg := f.Message
			if msg == "" {
				msg = "injected fault: " + reason
			}
			writeError(w, f.Status, reason, msg)
			return
		}
		if s.opts.RequireAuth {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			exp, known := s.tokens[tok]
			if !ok || !known || time.Now().After(exp) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
				writeError(w, 401, "authError", "Request had invalid authentication credentials.")
				return
			}
		}
		user := r.PathValue("user")
		if user != "me" && !strings.EqualFold(user, s.opts.User) && s.boxes[strings.ToLower(user)] == nil {
			writeError(w, 400, "failedPrecondition", "Mail service not enabled")
			return
		}
		h(w, r, s.box(user))
	}
}

func (s *Server) profile(w http.ResponseWriter, r *http.Request, b *mailbox) {
	writeJSON(w, map[string]any{
		"emailAddress":  b.email,
		"messagesTotal": len(b.msgs),
		"threadsTotal":  len(b.msgs),
		"historyId":     strconv.FormatUint(b.historyID, 10),
	})
}

func pageParams(r *http.Request, def, max int) (offset, size int, err error) {
	size = def
	if v := r.FormValue("maxResults"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size <= 0 {
			return 0, 0, fmt.Errorf("bad maxResults %q", v)
		}
		size = min(size, max)
	}
	if v := r.FormValue("pageToken"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("bad pageToken %q", v)
		}
	}
	return offset, size, nil
}

type idRef struct {
	ID       string `json:"id"`
	ThreadID string `json:"threadId"`
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request, b *mailbox) {
	offset, size, err := pageParams(r, 100, 500)
	if err != nil {
		writeError(w, 400, "invalidArgument", err.Error())
		return
	}
	q, err := parseQuery(r.FormValue("q"))
	if err != nil {
		writeError(w, 400, "invalidArgument", err.Error())
		return
	}
	q.labelIDs = r.Form["labelIds"]
	q.spamTrash = q.spamTrash || r.FormValue("includeSpamTrash") == "true"
	var match []idRef
	for i := len(b.msgs) - 1; i >= 0; i-- { // newest first, as Gmail lists
		if m := b.msgs[i]; q.match(b, m) {
			match = append(match, idRef{m.ID, m.ThreadID})
		}
	}
	resp := map[string]any{"resultSizeEstimate": len(match)}
	if offset < len(match) {
		end := min(offset+size, len(match))
		resp["messages"] = match[offset:end]
		if end < len(match) {
			resp["nextPageToken"] = strconv.Itoa(end)
		}
	}
	writeJSON(w, resp)
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, b *mailbox) {
	m := b.byID[r.PathValue("id")]
	if m == nil {
		writeError(w, 404, "notFound", "Requested entity was not found.")
		return
	}
	format := r.FormValue("format")
	if format == "" {
		format = "full"
	}
	if format != "raw" && format != "minimal" && format != "metadata" {
		writeError(w, 400, "invalidArgument", "fake supports format raw, minimal and metadata only")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	labels, _ := json.Marshal(m.Labels)
	// Field order as Gmail writes it: raw comes last.
	fmt.Fprintf(w, `{"id":%q,"threadId":%q,"labelIds":%s,"snippet":"","historyId":"%d","internalDate":"%d","sizeEstimate":%d`,
		m.ID, m.ThreadID, labels, m.HistoryID, m.InternalDate.UnixMilli(), len(m.Raw))
	if format == "raw" {
		io.WriteString(w, `,"raw":"`)
		enc := base64.NewEncoder(base64.URLEncoding, w)
		enc.Write(m.Raw)
		enc.Close()
		io.WriteString(w, `"`)
	}
	io.WriteString(w, "}\n")
}

type modifyRequest struct {
	IDs            []string `json:"ids"`
	AddLabelIDs    []string `json:"addLabelIds"`
	RemoveLabelIDs []string `json:"removeLabelIds"`
}

func (s *Server) applyModify(b *mailbox, id string, req modifyRequest) (*Message, string) {
	for _, l := range req.AddLabelIDs {
		if !slices.ContainsFunc(b.labels, func(x label) bool { return x.ID == l }) {
			return nil, "Invalid label: " + l
		}
	}
	if !s.addLabels(b, id, req.AddLabelIDs) {
		return nil, ""
	}
	m := b.byID[id]
	if len(req.RemoveLabelIDs) > 0 {
		m.Labels = slices.DeleteFunc(m.Labels, func(l string) bool { return slices.Contains(req.RemoveLabelIDs, l) })
		b.historyID++
		m.HistoryID = b.historyID
	}
	return m, ""
}

func (s *Server) modify(w http.ResponseWriter, r *http.Request, b *mailbox) {
	var req modifyRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 400, "invalidArgument", err.Error())
		return
	}
	m, bad := s.applyModify(b, r.PathValue("id"), req)
	switch {
	case bad != "":
		writeError(w, 400, "invalidArgument", bad)
	case m == nil:
		writeError(w, 404, "notFound", "Requested entity was not found.")
	default:
		writeJSON(w, map[string]any{"id": m.ID, "threadId": m.ThreadID, "labelIds": m.Labels})
	}
}

func (s *Server) batchModify(w http.ResponseWriter, r *http.Request, b *mailbox) {
	var req modifyRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 400, "invalidArgument", err.Error())
		return
	}
	if len(req.IDs) > 1000 {
		writeError(w, 400, "invalidArgument", "too many ids (max 1000)")
		return
	}
	for _, id := range req.IDs {
		// Gmail ignores ids that no longer exist in batchModify.
		if _, bad := s.applyModify(b, id, req); bad != "" {
			writeError(w, 400, "invalidArgument", bad)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listHistory(w http.ResponseWriter, r *http.Request, b *mailbox) {
	start, err := strconv.ParseUint(r.FormValue("startHistoryId"), 10, 64)
	if err != nil {
		writeError(w, 400, "invalidArgument", "Invalid startHistoryId")
		return
	}
	if start < b.minHistory {
		writeError(w, 404, "notFound", "Requested entity was not found.")
		return
	}
	offset, size, err := pageParams(r, s.opts.HistoryPageSize, 500)
	if err != nil {
		writeError(w, 400, "invalidArgument", err.Error())
		return
	}
	size = min(size, s.opts.HistoryPageSize)
	types := r.Form["historyTypes"]
	labelID := r.FormValue("labelId")
	var recs []map[string]any
	for _, h := range b.history {
		if h.ID <= start || (len(types) > 0 && !slices.Contains(types, h.Kind)) {
			continue
		}
		// Like Gmail, a record shows the message's labels as they were
		// when it was written.
		if labelID != "" && !slices.Contains(h.Labels, labelID) {
			continue
		}
		thread := h.MessageID
		if m := b.byID[h.MessageID]; m != nil {
			thread = m.ThreadID
		}
		ref := map[string]any{"id": h.MessageID, "threadId": thread, "labelIds": h.Labels}
		rec := map[string]any{"id": strconv.FormatUint(h.ID, 10), "messages": []any{ref}}
		switch h.Kind {
		case "messageAdded":
			rec["messagesAdded"] = []any{map[string]any{"message": ref}}
		case "labelAdded":
			rec["labelsAdded"] = []any{map[string]any{"message": ref, "labelIds": h.AddedLabels}}
		}
		recs = append(recs, rec)
	}
	resp := map[string]any{"historyId": strconv.FormatUint(b.historyID, 10)}
	if offset < len(recs) {
		end := min(offset+size, len(recs))
		resp["history"] = recs[offset:end]
		if end < len(recs) {
			resp["nextPageToken"] = strconv.Itoa(end)
		}
	}
	writeJSON(w, resp)
}

func (s *Server) listLabels(w http.ResponseWriter, r *http.Request, b *mailbox) {
	var out []map[string]any
	for _, l := range b.labels {
		out = append(out, map[string]any{"id": l.ID, "name": l.Name, "type": l.Type})
	}
	writeJSON(w, map[string]any{"labels": out})
}

func (s *Server) createLabel(w http.ResponseWriter, r *http.Request, b *mailbox) {
	var req struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || strings.TrimSpace(req.Name) == "" {
		writeError(w, 400, "invalidArgument", "Invalid label name")
		return
	}
	for _, l := range b.labels {
		if strings.EqualFold(l.Name, req.Name) {
			writeError(w, 409, "duplicate", "Label name exists or conflicts")
			return
		}
	}
	b.nextLabel++
	l := label{ID: fmt.Sprintf("Label_%d", b.nextLabel), Name: req.Name, Type: "user"}
	b.labels = append(b.labels, l)
	writeJSON(w, map[string]any{"id": l.ID, "name": l.Name, "type": l.Type,
		"labelListVisibility": "labelShow", "messageListVisibility": "show"})
}

// send implements users.messages.send: the metadata URI takes a Message
// with raw (base64url); the upload URI takes the RFC 822 bytes alone
// (uploadType=media) or a multipart/related body of the JSON Message then
// the bytes (uploadType=multipart). The mail is stored with the SENT label,
// in the thread threadId names (404 when no message has it), else a new one.
func (s *Server) send(w http.ResponseWriter, r *http.Request, b *mailbox) {
	var (
		meta struct {
			Raw      string `json:"raw"`
			ThreadID string `json:"threadId"`
		}
		raw []byte
	)
	upload := strings.HasPrefix(r.URL.Path, "/upload/")
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case !upload:
		if err := json.NewDecoder(r.Body).Decode(&meta); err != nil {
			writeError(w, 400, "invalidArgument", "Invalid JSON payload received.")
			return
		}
		var err error
		if raw, err = base64.URLEncoding.DecodeString(meta.Raw); err != nil {
			if raw, err = base64.RawURLEncoding.DecodeString(meta.Raw); err != nil {
				writeError(w, 400, "invalidArgument", "Invalid value for ByteString: raw")
				return
			}
		}
	case r.FormValue("uploadType") == "media":
		raw, _ = io.ReadAll(r.Body)
	case r.FormValue("uploadType") == "multipart" && ct == "multipart/related":
		mr := multipart.NewReader(r.Body, params["boundary"])
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				writeError(w, 400, "badRequest", "bad multipart body: "+err.Error())
				return
			}
			if i == 0 {
				if err := json.NewDecoder(p).Decode(&meta); err != nil {
					writeError(w, 400, "badRequest", "the first part must be the JSON metadata")
					return
				}
			} else {
				raw, _ = io.ReadAll(p)
			}
		}
	default:
		writeError(w, 400, "badRequest", "uploadType must be media or multipart")
		return
	}
	if len(raw) == 0 {
		writeError(w, 400, "invalidArgument", "Recipient address required")
		return
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil || msg.Header.Get("To")+msg.Header.Get("Cc")+msg.Header.Get("Bcc") == "" {
		writeError(w, 400, "invalidArgument", "Recipient address required")
		return
	}
	thread := ""
	if meta.ThreadID != "" {
		for _, m := range b.msgs {
			if m.ThreadID == meta.ThreadID {
				thread = m.ThreadID
			}
		}
		if thread == "" {
			writeError(w, 404, "notFound", "Requested entity was not found.")
			return
		}
	}
	s.seq++
	b.historyID++
	m := &Message{ID: fmt.Sprintf("%016x", 0x18c0000000000000+s.seq), Raw: raw, Labels: []string{"SENT"},
		InternalDate: time.Now().Truncate(time.Millisecond), HistoryID: b.historyID}
	m.ThreadID = thread
	if m.ThreadID == "" {
		m.ThreadID = m.ID
	}
	b.msgs = append(b.msgs, m)
	b.byID[m.ID] = m
	b.history = append(b.history, historyRecord{ID: b.historyID, Kind: "messageAdded", MessageID: m.ID, Labels: slices.Clone(m.Labels)})
	writeJSON(w, map[string]any{"id": m.ID, "threadId": m.ThreadID, "labelIds": m.Labels})
}
