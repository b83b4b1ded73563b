package api

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"strings"

	"github.com/sidedesk/sidedesk/ticket"
)

// Replier builds and queues an agent's reply to a ticket; the mail
// service (package mailout) implements it.
type Replier interface {
	Reply(ctx context.Context, tenant string, ticketID int64, r ticket.ReplyRequest) (ticket.Message, error)
}

// replyBody is POST /api/v1/tickets/{id}/replies.
type replyBody struct {
	BodyText    string         `json:"body_text"`
	BodyHTML    string         `json:"body_html"`
	Cc          []string       `json:"cc"`
	Attachments []int64        `json:"attachments"`
	StatusAfter *ticket.Status `json:"status_after"`
}

// maxReplyBody bounds a reply's JSON (the bodies are bounded at 1 MiB each
// by the mail service).
const maxReplyBody = 3 << 20

// postReply serves POST /api/v1/tickets/{id}/replies: 202 with the
// outgoing message, its delivery queued; it is sent by the outbox.
func (s *Server) postReply(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	var b replyBody
	if !s.decodeBody(w, r, maxReplyBody, "the reply", &b) {
		return
	}
	if len(b.Attachments) > 0 {
		s.writeError(w, r, http.StatusUnprocessableEntity, "invalid_request",
			"attachments: replies with attachments are not supported yet; send the reply without them", nil)
		return
	}
	if b.StatusAfter != nil && !b.StatusAfter.Valid() {
		s.writeError(w, r, http.StatusBadRequest, "invalid_request",
			fmt.Sprintf("status_after: %q is not one of new, open, pending, solved, closed", *b.StatusAfter), nil)
		return
	}
	var cc []ticket.Address
	for i, v := range b.Cc {
		a, err := mail.ParseAddress(v)
		if err != nil {
			s.writeError(w, r, http.StatusBadRequest, "invalid_request",
				fmt.Sprintf("cc[%d]: %q is not an email address (like \"Ana <ana@example.com>\" or ana@example.com)", i, v), err)
			return
		}
		cc = append(cc, ticket.Address{Name: a.Name, Email: strings.ToLower(a.Address)})
	}
	if s.opts.Replies == nil {
		s.writeError(w, r, http.StatusUnprocessableEntity, "invalid_request",
			"no mailbox sends mail: set smtp_host on a [[mailbox]] to send replies", nil)
		return
	}
	c, _ := CallerFrom(r.Context())
	m, err := s.opts.Replies.Reply(r.Context(), c.Tenant, id, ticket.ReplyRequest{
		BodyText: b.BodyText, BodyHTML: b.BodyHTML, Cc: cc, StatusAfter: b.StatusAfter, Actor: "api:" + c.TokenName,
	})
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("ticket %d", id), err)
		return
	}
	w.Header().Set("Location", s.link("/api/v1/messages/%d", m.ID))
	s.writeJSON(w, r, http.StatusAccepted, s.messageJSON(m))
}
