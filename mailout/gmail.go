package mailout

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
)

// Gmail is a Transport through the Gmail API (users.messages.send) for
// kind = "gmail" mailboxes: the mail goes out as the mailbox's own, shows
// in its Sent label, and joins the Gmail thread of the mail it answers
// (the threadId of the message its In-Reply-To names, found by an
// rfc822msgid: search), as Gmail's guide on threading asks. Gmail takes the
// recipients from the To, Cc and Bcc header fields, not an envelope.
type Gmail struct {
	Service *gmail.Service
	User    string // "me" or the mailbox address
}

// maxGmailSend is what users.messages.send takes through its upload URI.
const maxGmailSend = 35 << 20

// Send implements Transport.
func (g *Gmail) Send(ctx context.Context, from string, rcpts []string, raw io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(raw, maxGmailSend+1))
	if err != nil {
		return fmt.Errorf("gmail send: read the built mail: %w", err)
	}
	if len(b) > maxGmailSend {
		return &SendError{Permanent: true, Text: "the mail is larger than the 35 MB Gmail sends"}
	}
	msg := &gmail.Message{}
	if parent := answered(b); parent != "" {
		l, err := g.Service.Users.Messages.List(g.User).Q("rfc822msgid:" + parent).MaxResults(1).
			IncludeSpamTrash(true).Context(ctx).Do()
		if err != nil {
			return gmailError("find the thread of <"+parent+">", err)
		}
		if len(l.Messages) > 0 {
			msg.ThreadId = l.Messages[0].ThreadId
		}
	}
	_, err = g.Service.Users.Messages.Send(g.User, msg).
		Media(bytes.NewReader(b), googleapi.ContentType("message/rfc822"), googleapi.ChunkSize(0)).
		Context(ctx).Do()
	if err != nil {
		return gmailError("send", err)
	}
	return nil
}

// answered is the Message-ID (without <>) the mail answers: In-Reply-To,
// else the last of References.
func answered(raw []byte) string {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return ""
	}
	ids := strings.Fields(h.Get("In-Reply-To"))
	if len(ids) == 0 {
		ids = strings.Fields(h.Get("References"))
	}
	if len(ids) == 0 {
		return ""
	}
	return strings.Trim(ids[len(ids)-1], "<>")
}

// gmailError classifies an API error: a request Gmail refuses as such
// (400: a bad recipient or header) is permanent; quota (429), server
// errors and authorisation (401, 403: a missing gmail.send scope, fixed
// in the configuration) are retried, and show in the outbox's health.
func gmailError(what string, err error) error {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return fmt.Errorf("gmail %s: %w", what, err)
	}
	text := ge.Message
	if text == "" {
		text = strings.TrimSpace(ge.Body)
	}
	if len(ge.Errors) > 0 && ge.Errors[0].Reason != "" {
		text = ge.Errors[0].Reason + ": " + text
	}
	se := &SendError{Code: ge.Code, Text: "Gmail API " + what + ": " + text}
	if ge.Code == 400 || ge.Code == 413 {
		se.Permanent = true
	}
	return se
}
