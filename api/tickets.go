package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"

	"github.com/sidedesk/sidedesk/ticket"
)

// mailboxNameRE is the form of configured mailbox names.
var mailboxNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

// maxPatchBody bounds a PATCH body; a ticket change is a few fields.
const maxPatchBody = 64 << 10

// listTickets serves GET /api/v1/tickets?status=&mailbox=&requester=&tag=&limit=&cursor=.
func (s *Server) listTickets(w http.ResponseWriter, r *http.Request) {
	f, msg := parseTicketFilter(r)
	if msg != "" {
		s.writeError(w, r, http.StatusBadRequest, "invalid_parameter", msg, nil)
		return
	}
	tickets, next, err := s.opts.Store.ListTickets(r.Context(), tenantOf(r), f)
	if errors.Is(err, ticket.ErrInvalidCursor) {
		s.writeError(w, r, http.StatusBadRequest, "invalid_parameter",
			"cursor: not a cursor this server handed out (use next_cursor of the previous page)", err)
		return
	}
	if err != nil {
		s.writeStoreError(w, r, "tickets", err)
		return
	}
	body := struct {
		Tickets    []ticketJSON `json:"tickets"`
		NextCursor string       `json:"next_cursor"` // "" on the last page
	}{Tickets: make([]ticketJSON, 0, len(tickets)), NextCursor: next}
	for _, t := range tickets {
		body.Tickets = append(body.Tickets, s.ticketJSON(t))
	}
	s.writeJSON(w, r, http.StatusOK, body)
}

// parseTicketFilter reads the list's query; msg names the bad parameter.
func parseTicketFilter(r *http.Request) (f ticket.TicketFilter, msg string) {
	q := r.URL.Query()
	for k, v := range q {
		switch k {
		case "status", "mailbox", "requester", "tag", "limit", "cursor":
			if len(v) > 1 {
				return f, k + ": given more than once"
			}
		default:
			return f, fmt.Sprintf("%s: unknown parameter (known: status, mailbox, requester, tag, limit, cursor)", k)
		}
	}
	if v := q.Get("status"); v != "" {
		if f.Status = ticket.Status(v); !f.Status.Valid() {
			return f, fmt.Sprintf("status: %q is not one of new, open, pending, solved, closed", v)
		}
	}
	if v := q.Get("mailbox"); v != "" {
		if !mailboxNameRE.MatchString(v) {
			return f, fmt.Sprintf("mailbox: %q is not a mailbox name (a-z, 0-9, _ and -)", v)
		}
		f.Mailbox = v
	}
	if v := q.Get("requester"); v != "" {
		if a, err := mail.ParseAddress(v); err != nil || a.Address != strings.TrimSpace(v) {
			return f, fmt.Sprintf("requester: %q is not an email address", v)
		}
		f.Requester = v
	}
	if v := q.Get("tag"); v != "" {
		tags, err := ticket.NormTags([]string{v})
		if err != nil || len(tags) != 1 {
			return f, fmt.Sprintf("tag: %q is not a tag (letters, digits and - _ . : /, at most %d)", v, ticket.MaxTagLen)
		}
		f.Tag = tags[0]
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ticket.MaxListLimit {
			return f, fmt.Sprintf("limit: %q is not a number from 1 to %d", v, ticket.MaxListLimit)
		}
		f.Limit = n
	}
	f.Cursor = q.Get("cursor")
	return f, ""
}

// pathID reads the {id} path value; on failure it has answered 400.
func (s *Server) pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		s.writeError(w, r, http.StatusBadRequest, "invalid_id", fmt.Sprintf("id: %q is not a positive integer", v), nil)
		return 0, false
	}
	return id, true
}

// getTicket serves GET /api/v1/tickets/{id}: the ticket with its messages
// in order.
func (s *Server) getTicket(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	tenant := tenantOf(r)
	t, err := s.opts.Store.Ticket(r.Context(), tenant, id)
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("ticket %d", id), err)
		return
	}
	msgs, err := s.opts.Store.TicketMessages(r.Context(), tenant, id)
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("ticket %d", id), err)
		return
	}
	body := ticketWithMessagesJSON{ticketJSON: s.ticketJSON(t), Messages: make([]messageJSON, 0, len(msgs))}
	for _, m := range msgs {
		body.Messages = append(body.Messages, s.messageJSON(m))
	}
	s.writeJSON(w, r, http.StatusOK, body)
}

// ticketPatch is the body of PATCH /api/v1/tickets/{id}; absent fields
// stay as they are.
type ticketPatch struct {
	Status   *ticket.Status   `json:"status"`
	Priority *ticket.Priority `json:"priority"`
	Assignee *string          `json:"assignee"` // "" unassigns
	Tags     *[]string        `json:"tags"`     // replaces the tags; [] removes them
	// CustomFields sets the fields it names; null removes one.
	CustomFields map[string]any `json:"custom_fields"`
}

// patchTicket serves PATCH /api/v1/tickets/{id}: status, priority,
// assignee, tags. The change is recorded as made by "api:<token name>".
func (s *Server) patchTicket(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	var p ticketPatch
	if !s.decodeBody(w, r, maxPatchBody, "the change", &p) {
		return
	}
	c, _ := CallerFrom(r.Context())
	t, err := s.opts.Tickets.Update(r.Context(), c.Tenant, id, ticket.Change{
		Status: p.Status, Priority: p.Priority, Assignee: p.Assignee, Tags: p.Tags, CustomFields: p.CustomFields,
		Actor: "api:" + c.TokenName,
	})
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("ticket %d", id), err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.ticketJSON(t))
}

// mergeBody is POST /api/v1/tickets/{id}/merge: the tickets to merge into
// {id}.
type mergeBody struct {
	IDs []int64 `json:"ids"`
}

// postMerge serves POST /api/v1/tickets/{id}/merge: the tickets named by
// ids are merged into ticket {id} (messages moved, sources closed with
// merged_into set); 200 with the merged ticket.
func (s *Server) postMerge(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	var b mergeBody
	if !s.decodeBody(w, r, maxPatchBody, "the merge", &b) {
		return
	}
	c, _ := CallerFrom(r.Context())
	t, err := s.opts.Tickets.Merge(r.Context(), c.Tenant, id, b.IDs, "api:"+c.TokenName)
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("ticket %d", id), err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.ticketJSON(t))
}

// decodeBody reads the request's JSON object into v (unknown fields
// refused), answering the error itself when it cannot; what names the body
// in the error ("the change").
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, limit int64, what string, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			s.writeError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "send "+what+" as application/json", nil)
			return false
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.writeError(w, r, http.StatusBadRequest, "invalid_body", "body: "+jsonErrorMessage(err), err)
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		s.writeError(w, r, http.StatusBadRequest, "invalid_body", "body: want a single JSON object", nil)
		return false
	}
	return true
}

// jsonErrorMessage says what was wrong with a request body without echoing
// Go type names.
func jsonErrorMessage(err error) string {
	var (
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		size *http.MaxBytesError
	)
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("%s: want a %s", typ.Field, typ.Type.Kind())
	case errors.As(err, &size):
		return fmt.Sprintf("larger than %d bytes", size.Limit)
	case errors.Is(err, io.EOF):
		return "empty; want a JSON object"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// search serves GET /api/v1/search?q=&status=&limit=: tickets by number
// ("#123") or by the words of their messages' subject, text and sender.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "q" && k != "status" && k != "limit" {
			s.writeError(w, r, http.StatusBadRequest, "invalid_parameter", k+": unknown parameter (known: q, status, limit)", nil)
			return
		}
	}
	text := q.Get("q")
	if strings.TrimSpace(text) == "" || len(text) > 500 {
		s.writeError(w, r, http.StatusBadRequest, "invalid_parameter", "q: required, at most 500 characters (words, or a ticket number like #123)", nil)
		return
	}
	status := ticket.Status(q.Get("status"))
	if status != "" && !status.Valid() {
		s.writeError(w, r, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("status: %q is not one of new, open, pending, solved, closed", status), nil)
		return
	}
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			s.writeError(w, r, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("limit: %q is not a number from 1 to 100", v), nil)
			return
		}
		limit = n
	}
	found, err := s.opts.Store.SearchTickets(r.Context(), tenantOf(r), text, status, limit)
	if err != nil {
		s.writeStoreError(w, r, "search", err)
		return
	}
	out := struct {
		Tickets []ticketJSON `json:"tickets"`
	}{Tickets: make([]ticketJSON, 0, len(found))}
	for _, t := range found {
		out.Tickets = append(out.Tickets, s.ticketJSON(t))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// ticketMessages serves GET /api/v1/tickets/{id}/messages?limit=&cursor=:
// the thread in the order it was stored, a page at a time.
func (s *Server) ticketMessages(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit, after := 50, int64(0)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			s.writeError(w, r, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("limit: %q is not a number from 1 to 200", v), nil)
			return
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, http.StatusBadRequest, "invalid_parameter",
				"cursor: not a cursor this server handed out (use next_cursor of the previous page)", nil)
			return
		}
		after = n
	}
	msgs, err := s.opts.Store.TicketMessagesPage(r.Context(), tenantOf(r), id, after, limit)
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("ticket %d", id), err)
		return
	}
	out := struct {
		Messages   []messageJSON `json:"messages"`
		NextCursor string        `json:"next_cursor"` // "" on the last page
	}{Messages: make([]messageJSON, 0, len(msgs))}
	for _, m := range msgs {
		out.Messages = append(out.Messages, s.messageJSON(m))
	}
	if len(msgs) == limit {
		out.NextCursor = strconv.FormatInt(msgs[len(msgs)-1].ID, 10)
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
