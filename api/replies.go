package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

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
	// Quote appends the customer's last mail, quoted.
	Quote bool `json:"quote"`
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
		Quote: b.Quote, Attachments: b.Attachments,
	})
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("ticket %d", id), err)
		return
	}
	w.Header().Set("Location", s.link("/api/v1/messages/%d", m.ID))
	s.writeJSON(w, r, http.StatusAccepted, s.messageJSON(m))
}

// Uploads keeps files to attach to replies (POST /api/v1/uploads).
type Uploads interface {
	PutBlob(ctx context.Context, r io.Reader) (ticket.BlobRef, error)
	PutUpload(ctx context.Context, u ticket.Upload) (ticket.Upload, error)
}

// MaxUpload bounds one uploaded file (the mail service bounds a reply's
// attachments together at the same 25 MB).
const MaxUpload = 25 << 20

type uploadJSON struct {
	ID          int64     `json:"id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	CreatedAt   time.Time `json:"created_at"`
}

// postUpload serves POST /api/v1/uploads: the request body is the file,
// its Content-Type the file's type, its name from ?filename= or a
// Content-Disposition header. 201 with the upload's id, which replies
// name in "attachments".
func (s *Server) postUpload(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("filename")
	if name == "" {
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
			name = params["filename"]
		}
	}
	name = uploadName(name)
	if name == "" {
		s.writeError(w, r, http.StatusBadRequest, "invalid_request",
			"filename: missing: give ?filename=report.pdf or a Content-Disposition: attachment; filename=\"report.pdf\" header", nil)
		return
	}
	ct := r.Header.Get("Content-Type")
	if mt, params, err := mime.ParseMediaType(ct); err != nil || ct == "" {
		ct = "application/octet-stream"
	} else {
		ct = mime.FormatMediaType(mt, params)
	}
	if r.ContentLength > MaxUpload {
		s.writeError(w, r, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the file is larger than %d MB", MaxUpload>>20), nil)
		return
	}
	body := http.MaxBytesReader(w, r.Body, MaxUpload)
	ref, err := s.opts.Uploads.PutBlob(r.Context(), body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		s.writeError(w, r, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("the file is larger than %d MB", MaxUpload>>20), nil)
		return
	}
	if err != nil {
		s.writeStoreError(w, r, "the file", err)
		return
	}
	c, _ := CallerFrom(r.Context())
	u, err := s.opts.Uploads.PutUpload(r.Context(), ticket.Upload{Tenant: c.Tenant, Filename: name, ContentType: ct,
		Size: ref.Size, SHA256: ref.SHA256, CreatedBy: c.TokenName})
	if err != nil {
		s.writeStoreError(w, r, "the upload", err)
		return
	}
	s.writeJSON(w, r, http.StatusCreated, uploadJSON{ID: u.ID, Filename: u.Filename, ContentType: u.ContentType,
		Size: u.Size, SHA256: u.SHA256, CreatedAt: u.CreatedAt})
}

// uploadName is the file's base name, without control characters, at
// most 255 bytes; "" when nothing is left.
func uploadName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "." || name == ".." {
		return ""
	}
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}
