package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sidedesk/sidedesk/ticket"
)

// newTicketBody is POST /api/v1/tickets.
type newTicketBody struct {
	Requester struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"requester"`
	Subject  string           `json:"subject"`
	Body     string           `json:"body"`
	Priority *ticket.Priority `json:"priority"`
	Assignee string           `json:"assignee"`
	Tags     []string         `json:"tags"`
	// CustomFields are scalar values by key (string, number, boolean).
	CustomFields map[string]any `json:"custom_fields"`
	// SendMail sends Body to the requester as the ticket's first mail
	// (an agent opening a ticket for a phone call); otherwise Body is kept
	// as an internal note.
	SendMail bool `json:"send_mail"`
}

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// postTicket serves POST /api/v1/tickets: 201 with the ticket; with an
// Idempotency-Key header a retry of the same request answers the same
// ticket (200, Idempotent-Replayed: true) and the key with another request
// 422.
func (s *Server) postTicket(w http.ResponseWriter, r *http.Request) {
	var b newTicketBody
	if !s.decodeBody(w, r, maxReplyBody, "the ticket", &b) {
		return
	}
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if len(key) > maxIdempotencyKey {
		s.writeError(w, r, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("Idempotency-Key: longer than %d characters", maxIdempotencyKey), nil)
		return
	}
	if b.SendMail && s.opts.Replies == nil {
		s.writeError(w, r, http.StatusUnprocessableEntity, "invalid_request",
			"send_mail: no mailbox sends mail (set smtp_host on a [[mailbox]]), or send without send_mail", nil)
		return
	}
	canon, _ := json.Marshal(b)
	sum := sha256.Sum256(canon)
	c, _ := CallerFrom(r.Context())
	req := ticket.NewTicket{
		Subject:   b.Subject,
		Requester: ticket.Address{Name: b.Requester.Name, Email: b.Requester.Email},
		Assignee:  b.Assignee, Tags: b.Tags, CustomFields: b.CustomFields, Actor: "api:" + c.TokenName, Source: "api",
		IdempotencyKey: key, RequestHash: hex.EncodeToString(sum[:]),
	}
	if b.Priority != nil {
		req.Priority = *b.Priority
	}
	if !b.SendMail {
		req.Text = b.Body
	}
	t, replayed, err := s.opts.Tickets.Create(r.Context(), c.Tenant, req)
	switch {
	case errors.Is(err, ticket.ErrIdempotencyConflict):
		s.writeError(w, r, http.StatusUnprocessableEntity, "idempotency_conflict",
			"Idempotency-Key: used before for another request; use a new key for a new ticket", err)
		return
	case err != nil:
		s.writeStoreError(w, r, "ticket", err)
		return
	}
	w.Header().Set("Location", s.link("/api/v1/tickets/%d", t.ID))
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		s.writeJSON(w, r, http.StatusOK, s.ticketJSON(t))
		return
	}
	if b.SendMail && strings.TrimSpace(b.Body) != "" {
		status := ticket.StatusPending
		if _, err := s.opts.Replies.Reply(r.Context(), c.Tenant, t.ID, ticket.ReplyRequest{
			BodyText: b.Body, StatusAfter: &status, Actor: "api:" + c.TokenName}); err != nil {
			// The ticket stands; say why the mail did not.
			s.writeError(w, r, http.StatusUnprocessableEntity, "invalid_request",
				fmt.Sprintf("ticket %d was created, but its first mail was refused: %s", t.Number, strings.TrimPrefix(err.Error(), "mailout: reply: ")), err)
			return
		}
		if fresh, err := s.opts.Store.Ticket(r.Context(), c.Tenant, t.ID); err == nil {
			t = fresh
		}
	}
	s.writeJSON(w, r, http.StatusCreated, s.ticketJSON(t))
}

// postNote serves POST /api/v1/tickets/{id}/notes ({"text": ...}): 201
// with the note (an internal message, never mailed).
func (s *Server) postNote(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	var b struct {
		Text string `json:"text"`
	}
	if !s.decodeBody(w, r, maxReplyBody, "the note", &b) {
		return
	}
	c, _ := CallerFrom(r.Context())
	m, err := s.opts.Tickets.AddNote(r.Context(), c.Tenant, id, "api:"+c.TokenName, b.Text)
	if err != nil {
		s.writeStoreError(w, r, "ticket "+strconv.FormatInt(id, 10), err)
		return
	}
	w.Header().Set("Location", s.link("/api/v1/messages/%d", m.ID))
	s.writeJSON(w, r, http.StatusCreated, s.messageJSON(m))
}
