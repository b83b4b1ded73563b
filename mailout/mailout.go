// Package mailout sends sidedesk's mail: agents' replies and the
// acknowledgements of new tickets. A message is built once (Compose), its
// bytes stored as a blob and the message queued on its ticket in one
// transaction (ticket.Service.QueueOutgoing); the mail consumer of the
// outbox (Service.Deliver) then sends those same bytes through the
// mailbox's Transport and records the outcome. Sending is at least once: a
// crash after the server accepted a message and before that was recorded
// sends it once more on restart, with the same Message-ID, which
// receivers' duplicate detection absorbs.
package mailout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/microcosm-cc/bluemonday"

	"github.com/sidedesk/sidedesk/ticket"
)

// Store is what the mail service reads; *store.Store implements it.
type Store interface {
	Ticket(ctx context.Context, tenant string, id int64) (ticket.Ticket, error)
	// RecentMessages returns a ticket's last n messages, oldest first.
	RecentMessages(ctx context.Context, tenant string, ticketID int64, n int) ([]ticket.Message, error)
	Message(ctx context.Context, tenant string, id int64) (ticket.Message, error)
	Delivery(ctx context.Context, tenant string, messageID int64) (ticket.Delivery, error)
	LastAckTo(ctx context.Context, tenant, email string) (time.Time, error)
	// Upload is the tenant's upload id (ticket.ErrNotFound when none).
	Upload(ctx context.Context, tenant string, id int64) (ticket.Upload, error)
}

// Blobs keeps built messages; *store.Blobs implements it.
type Blobs interface {
	Put(ctx context.Context, r io.Reader) (ticket.BlobRef, error)
	Open(ctx context.Context, sha256 string) (io.ReadCloser, error)
}

// Tickets queues outgoing mail and records its fate; *ticket.Service
// implements it.
type Tickets interface {
	QueueOutgoing(ctx context.Context, tenant string, o ticket.Outgoing) (ticket.Message, ticket.Delivery, error)
	RecordDelivery(ctx context.Context, tenant string, messageID int64, state ticket.DeliveryState, reason string) (ticket.Delivery, bool, error)
}

// Mailbox is one sending mailbox.
type Mailbox struct {
	Name    string
	Tenant  string
	Address string   // From and envelope sender; replies come back here
	Aliases []string // other addresses of the mailbox: never acknowledged
	// FromName is the display name of From ("Acme Support").
	FromName string
	// Transport sends its mail; nil: the mailbox cannot send (replies
	// through it fail with a note saying so).
	Transport Transport
	// Ack sends acknowledgements of new tickets from this mailbox.
	Ack bool
}

// AckOptions shape acknowledgements.
type AckOptions struct {
	// Interval: a sender who got an acknowledgement within it gets none
	// (default 10 minutes).
	Interval time.Duration
	// MaxAge: mail dated longer ago than this gets none (a first sync of
	// old mail must not answer it all; default 24 hours).
	MaxAge time.Duration
	// Subject and Body are text/template sources over AckData; empty
	// takes DefaultAckSubject and DefaultAckBody.
	Subject string
	Body    string
}

// Default acknowledgement templates.
const (
	DefaultAckSubject = "Re: {{.Subject}}"
	DefaultAckBody    = `Hello{{if .RequesterName}} {{.RequesterName}}{{end}},

thank you for your message. We have opened ticket {{.Tag}} for it and will get back to you soon.
To add to it, reply to this mail and keep {{.Tag}} in the subject.

{{.MailboxName}}
`
)

// AckData is what the acknowledgement templates see.
type AckData struct {
	Number         int64
	Tag            string // "[#123]"
	Subject        string // the ticket's subject
	RequesterName  string
	RequesterEmail string
	MailboxName    string // FromName, else the address
}

// Options configures a Service.
type Options struct {
	Store     Store   // required
	Blobs     Blobs   // required
	Tickets   Tickets // required
	Mailboxes []Mailbox
	// ReplySecret signs the reply addresses (ticket.ReplyAddress); nil:
	// Reply-To is the plain mailbox address.
	ReplySecret []byte
	TagPrefix   string // default ticket.DefaultTagPrefix
	Ack         AckOptions
	// GiveUpAfter: a message still not accepted this long after it was
	// queued is marked failed (default 48 hours).
	GiveUpAfter time.Duration
	Logger      *slog.Logger // nil: discard
	Now         func() time.Time
}

// Service builds, queues and sends mail.
type Service struct {
	opts       Options
	log        *slog.Logger
	byName     map[string]*Mailbox
	own        map[string]bool // every mailbox address and alias, normalised
	ackSubject *template.Template
	ackBody    *template.Template
	sanitize   func(string) string
}

// New checks opts and builds the Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Blobs == nil || opts.Tickets == nil {
		return nil, errors.New("mailout: Options.Store, Blobs and Tickets are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TagPrefix == "" {
		opts.TagPrefix = ticket.DefaultTagPrefix
	}
	if opts.Ack.Interval <= 0 {
		opts.Ack.Interval = 10 * time.Minute
	}
	if opts.Ack.MaxAge <= 0 {
		opts.Ack.MaxAge = 24 * time.Hour
	}
	if opts.GiveUpAfter <= 0 {
		opts.GiveUpAfter = 48 * time.Hour
	}
	s := &Service{opts: opts, log: opts.Logger, byName: map[string]*Mailbox{}, own: map[string]bool{}}
	for i := range opts.Mailboxes {
		m := &opts.Mailboxes[i]
		if m.Tenant == "" {
			m.Tenant = ticket.DefaultTenant
		}
		s.byName[m.Name] = m
		for _, a := range append([]string{m.Address}, m.Aliases...) {
			if a != "" {
				s.own[ticket.NormEmail(a)] = true
			}
		}
	}
	var err error
	subject, body := opts.Ack.Subject, opts.Ack.Body
	if subject == "" {
		subject = DefaultAckSubject
	}
	if body == "" {
		body = DefaultAckBody
	}
	if s.ackSubject, err = template.New("ack_subject").Option("missingkey=error").Parse(subject); err != nil {
		return nil, fmt.Errorf("mailout: ack subject template: %w", err)
	}
	if s.ackBody, err = template.New("ack_body").Option("missingkey=error").Parse(body); err != nil {
		return nil, fmt.Errorf("mailout: ack body template: %w", err)
	}
	policy := sync.OnceValue(bluemonday.UGCPolicy)
	s.sanitize = func(h string) string { return policy().Sanitize(h) }
	return s, nil
}

// ConsumerName is the outbox consumer name of a tenant's mail.
func ConsumerName(tenant string) string { return "mail:" + tenant }

// Deliver is the outbox consumer (one per tenant, ConsumerName): a new
// ticket from a customer's mail gets its acknowledgement queued; a queued
// message is sent. Other events are no concern of it.
func (s *Service) Deliver(ctx context.Context, e ticket.Event) error {
	switch e.Type {
	case ticket.EventTicketCreated:
		return s.acknowledge(ctx, e)
	case ticket.EventMessageQueued:
		return s.send(ctx, e.Tenant, e.MessageID)
	}
	return nil
}

// mailboxFor is the mailbox a ticket's mail goes out of: its own, else
// the tenant's first that can send.
func (s *Service) mailboxFor(tenant, name string) *Mailbox {
	if m, ok := s.byName[name]; ok && m.Tenant == tenant {
		return m
	}
	for i := range s.opts.Mailboxes {
		if m := &s.opts.Mailboxes[i]; m.Tenant == tenant && m.Transport != nil {
			return m
		}
	}
	return nil
}

// threadWindow is how many of a ticket's latest messages a reply looks
// through for the customer's last mail.
const threadWindow = 50

// Reply builds an agent's reply to a ticket and queues it (POST
// /api/v1/tickets/{id}/replies): to the customer (the Reply-To of their
// last mail, else its sender, else the requester), threaded on their last
// mail, with the subject tag and the signed reply address.
func (s *Service) Reply(ctx context.Context, tenant string, ticketID int64, r ticket.ReplyRequest) (ticket.Message, error) {
	if tenant == "" {
		tenant = ticket.DefaultTenant
	}
	text := strings.TrimSpace(r.BodyText)
	if text == "" && strings.TrimSpace(r.BodyHTML) == "" {
		return ticket.Message{}, fmt.Errorf("mailout: reply: %w body_text: empty (write the reply)", ticket.ErrInvalid)
	}
	const maxBody = 1 << 20
	if len(r.BodyText) > maxBody || len(r.BodyHTML) > maxBody {
		return ticket.Message{}, fmt.Errorf("mailout: reply: %w body longer than %d bytes", ticket.ErrInvalid, maxBody)
	}
	for i, c := range r.Cc {
		if !validEmail(c.Email) {
			return ticket.Message{}, fmt.Errorf("mailout: reply: %w cc[%d] %q: not an email address", ticket.ErrInvalid, i, c.Email)
		}
	}
	t, err := s.opts.Store.Ticket(ctx, tenant, ticketID)
	if err != nil {
		return ticket.Message{}, err
	}
	mb := s.mailboxFor(tenant, t.Mailbox)
	if mb == nil || mb.Transport == nil {
		return ticket.Message{}, fmt.Errorf("mailout: reply: %w ticket %d: no mailbox of tenant %s can send mail (set smtp_host on its [[mailbox]])",
			ticket.ErrInvalid, t.Number, tenant)
	}
	// The customer's last mail is among the latest messages; a long
	// ticket's whole thread is not read for it.
	thread, err := s.opts.Store.RecentMessages(ctx, tenant, t.ID, threadWindow)
	if err != nil {
		return ticket.Message{}, err
	}
	to := replyRecipient(t, thread)
	if to.Email == "" || s.own[ticket.NormEmail(to.Email)] {
		return ticket.Message{}, fmt.Errorf("mailout: reply: %w ticket %d has no customer address to answer", ticket.ErrInvalid, t.Number)
	}
	htmlBody := ""
	if strings.TrimSpace(r.BodyHTML) != "" {
		htmlBody = s.sanitize(r.BodyHTML)
		if text == "" {
			text = htmlToText(htmlBody)
		}
	}
	status := ticket.StatusPending
	if r.StatusAfter != nil {
		status = *r.StatusAfter
	}
	if r.Quote {
		text, htmlBody = quoteLast(thread, text, htmlBody)
	}
	atts, err := s.attachments(ctx, tenant, r.Attachments)
	if err != nil {
		return ticket.Message{}, err
	}
	m := s.build(tenant, mb, t, thread, []ticket.Address{to}, r.Cc, replySubject(t.Subject), text, htmlBody, false)
	m.Attachments = atts
	msg, _, err := s.queue(ctx, tenant, mb, t, m, ticket.OutgoingReply, &status, r.Actor)
	return msg, err
}

// MaxAttachments bounds the attachments of one reply: together at most
// MaxAttachmentBytes (25 MB, what most submission servers take before
// base64 grows it by a third), at most MaxAttachmentCount files.
const (
	MaxAttachmentBytes = 25 << 20
	MaxAttachmentCount = 20
)

// attachments loads a reply's uploads, checking they are the tenant's and
// within the limits.
func (s *Service) attachments(ctx context.Context, tenant string, ids []int64) ([]Attachment, error) {
	if len(ids) > MaxAttachmentCount {
		return nil, fmt.Errorf("mailout: reply: %w attachments: %d files, at most %d", ticket.ErrInvalid, len(ids), MaxAttachmentCount)
	}
	var (
		out   []Attachment
		total int64
		seen  = map[int64]bool{}
	)
	for i, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		u, err := s.opts.Store.Upload(ctx, tenant, id)
		if errors.Is(err, ticket.ErrNotFound) {
			return nil, fmt.Errorf("mailout: reply: %w attachments[%d]: no upload %d (POST /api/v1/uploads first)", ticket.ErrInvalid, i, id)
		}
		if err != nil {
			return nil, err
		}
		if total += u.Size; total > MaxAttachmentBytes {
			return nil, fmt.Errorf("mailout: reply: %w attachments: more than %d MB together", ticket.ErrInvalid, MaxAttachmentBytes>>20)
		}
		out = append(out, Attachment{Filename: u.Filename, ContentType: u.ContentType, Size: u.Size, SHA256: u.SHA256})
	}
	return out, nil
}

// build makes the Mail of a message on ticket t.
func (s *Service) build(tenant string, mb *Mailbox, t ticket.Ticket, thread []ticket.Message,
	to, cc []ticket.Address, subject, text, htmlBody string, auto bool) Mail {
	m := Mail{
		From:        ticket.Address{Name: mb.FromName, Email: mb.Address},
		To:          to,
		Cc:          cc,
		Subject:     s.tagged(subject, t.Number),
		MessageID:   NewMessageID(mb.Address),
		Date:        s.opts.Now().UTC().Truncate(time.Second),
		Text:        text,
		HTML:        htmlBody,
		AutoReplied: auto,
	}
	if reply := ticket.ReplyAddress(s.opts.ReplySecret, tenant, t.Number, mb.Address); reply != mb.Address {
		m.ReplyTo = ticket.Address{Name: mb.FromName, Email: reply}
	}
	// Threaded on the customer's last mail: its References and itself.
	for i := len(thread) - 1; i >= 0; i-- {
		if tm := thread[i]; tm.Direction == ticket.DirectionInbound && tm.MessageID != "" {
			m.InReplyTo = tm.MessageID
			m.References = append(append([]string(nil), tm.References...), tm.MessageID)
			break
		}
	}
	if len(m.References) > 20 { // the first and the latest are what threading needs
		m.References = append(m.References[:1:1], m.References[len(m.References)-19:]...)
	}
	return m
}

// queue stores the built mail and queues it on its ticket.
func (s *Service) queue(ctx context.Context, tenant string, mb *Mailbox, t ticket.Ticket, m Mail,
	kind ticket.OutgoingKind, status *ticket.Status, actor string) (ticket.Message, ticket.Delivery, error) {
	raw, err := s.compose(ctx, m)
	if err != nil {
		return ticket.Message{}, ticket.Delivery{}, err
	}
	ref, err := s.opts.Blobs.Put(ctx, bytes.NewReader(raw))
	if err != nil {
		return ticket.Message{}, ticket.Delivery{}, fmt.Errorf("mailout: store the built mail: %w", err)
	}
	bodyHash, err := ticket.BodyHash(bytes.NewReader(raw), ref.SHA256)
	if err != nil {
		return ticket.Message{}, ticket.Delivery{}, err
	}
	var rcpts []string
	for _, a := range append(append([]ticket.Address(nil), m.To...), m.Cc...) {
		rcpts = append(rcpts, ticket.NormEmail(a.Email))
	}
	msg := ticket.Message{
		Mailbox: mb.Name, MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.References,
		From: m.From, To: m.To, Cc: m.Cc, Subject: m.Subject, Date: m.Date,
		Text: m.Text, HTML: m.HTML, Raw: ref, BodyHash: bodyHash,
	}
	for _, a := range m.Attachments {
		msg.Attachments = append(msg.Attachments, ticket.Attachment{Filename: a.Filename, ContentType: a.ContentType,
			Size: a.Size, SHA256: a.SHA256})
	}
	if m.ReplyTo.Email != "" {
		msg.ReplyTo = []ticket.Address{m.ReplyTo}
	}
	return s.opts.Tickets.QueueOutgoing(ctx, tenant, ticket.Outgoing{
		TicketID: t.ID, Message: msg, Kind: kind, Mailbox: mb.Name, From: mb.Address, Recipients: rcpts,
		StatusAfter: status, Actor: actor,
	})
}

// compose builds m's bytes, the attachments read from the blob store.
func (s *Service) compose(ctx context.Context, m Mail) ([]byte, error) {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for i := range m.Attachments {
		rc, err := s.opts.Blobs.Open(ctx, m.Attachments[i].SHA256)
		if err != nil {
			return nil, fmt.Errorf("mailout: attachment %q: %w", m.Attachments[i].Filename, err)
		}
		closers = append(closers, rc)
		m.Attachments[i].Body = rc
	}
	return Compose(m)
}

// acknowledge queues the acknowledgement of a ticket created from a
// customer's mail, unless a rule says not to: the mailbox sends none, the
// mail is old (a first sync), the sender is one of our own addresses or
// got one within the interval. Bounces, auto-replies, list mail and held
// floods never create a ticket, so they never get one.
func (s *Service) acknowledge(ctx context.Context, e ticket.Event) error {
	var p ticket.EventPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return nil // not an event of ours to judge
	}
	if p.Reason != "new" && p.Reason != "reopen_window_passed" {
		return nil // made by an agent or the API: no customer mail to answer
	}
	t, err := s.opts.Store.Ticket(ctx, e.Tenant, e.TicketID)
	if err != nil {
		return err
	}
	mb := s.mailboxFor(e.Tenant, t.Mailbox)
	if mb == nil || !mb.Ack || mb.Transport == nil || mb.Name != t.Mailbox {
		return nil
	}
	skip := func(why string) error {
		s.log.InfoContext(ctx, "mailout: no acknowledgement", "tenant", e.Tenant, "ticket", t.Number, "why", why)
		return nil
	}
	first, err := s.opts.Store.Message(ctx, e.Tenant, e.MessageID)
	if err != nil {
		return err
	}
	to := t.Requester
	switch {
	case first.Direction != ticket.DirectionInbound || first.Classification != ticket.ClassNormal:
		return skip("not a customer's mail")
	case !validEmail(to.Email):
		return skip("no sender address")
	case s.own[ticket.NormEmail(to.Email)] || s.ownSubaddress(to.Email):
		return skip("sent by one of our own addresses")
	case s.opts.Now().Sub(first.Date) > s.opts.Ack.MaxAge:
		return skip("the mail is older than ack_max_age")
	}
	last, err := s.opts.Store.LastAckTo(ctx, e.Tenant, to.Email)
	if err != nil {
		return err
	}
	if !last.IsZero() && s.opts.Now().Sub(last) < s.opts.Ack.Interval {
		return skip("the sender got an acknowledgement within ack_interval")
	}
	data := AckData{Number: t.Number, Tag: "[" + s.opts.TagPrefix + strconv.FormatInt(t.Number, 10) + "]",
		Subject: t.Subject, RequesterName: to.Name, RequesterEmail: to.Email, MailboxName: mb.FromName}
	if data.MailboxName == "" {
		data.MailboxName = mb.Address
	}
	var subject, body bytes.Buffer
	if err := s.ackSubject.Execute(&subject, data); err != nil {
		return ackTemplateError{err}
	}
	if err := s.ackBody.Execute(&body, data); err != nil {
		return ackTemplateError{err}
	}
	m := s.build(e.Tenant, mb, t, []ticket.Message{first}, []ticket.Address{to}, nil, subject.String(), body.String(), "", true)
	_, _, err = s.queue(ctx, e.Tenant, mb, t, m, ticket.OutgoingAck, nil, "")
	return err
}

// ackTemplateError is a template that cannot be rendered: retrying cannot
// help, the outbox keeps it as a dead letter with the reason.
type ackTemplateError struct{ err error }

func (e ackTemplateError) Error() string {
	return "mailout: acknowledgement template: " + e.err.Error()
}
func (e ackTemplateError) Unwrap() error   { return e.err }
func (e ackTemplateError) Permanent() bool { return true }

// ownSubaddress reports whether addr is a subaddress (local+tag@domain)
// of one of our addresses: a signed reply address coming back.
func (s *Service) ownSubaddress(addr string) bool {
	a := ticket.NormEmail(addr)
	at := strings.LastIndexByte(a, '@')
	plus := strings.IndexByte(a, '+')
	if at < 0 || plus < 0 || plus > at {
		return false
	}
	return s.own[a[:plus]+a[at:]]
}

// send hands a queued message to its mailbox's transport and records the
// outcome: sent; failed for good (5xx, no transport, queued longer than
// GiveUpAfter); or an attempt that failed for now, returned for the outbox
// to retry with backoff.
func (s *Service) send(ctx context.Context, tenant string, messageID int64) error {
	d, err := s.opts.Store.Delivery(ctx, tenant, messageID)
	if errors.Is(err, ticket.ErrNotFound) {
		return nil // not ours to send (written in an agent's own mail client)
	}
	if err != nil {
		return err
	}
	if d.State != ticket.DeliveryQueued {
		return nil // sent or failed already: a redelivered event
	}
	fail := func(reason string) error {
		s.log.WarnContext(ctx, "mailout: message failed", "tenant", tenant, "message", messageID, "reason", reason)
		_, _, err := s.opts.Tickets.RecordDelivery(ctx, tenant, messageID, ticket.DeliveryFailed, reason)
		return err
	}
	mb, ok := s.byName[d.Mailbox]
	if !ok || mb.Tenant != tenant || mb.Transport == nil {
		return fail(fmt.Sprintf("mailbox %q cannot send mail (set smtp_host on its [[mailbox]])", d.Mailbox))
	}
	if age := s.opts.Now().Sub(d.QueuedAt); age > s.opts.GiveUpAfter {
		return fail(fmt.Sprintf("not accepted within %v (%d attempts; last: %s)", s.opts.GiveUpAfter, d.Attempts, d.LastError))
	}
	m, err := s.opts.Store.Message(ctx, tenant, messageID)
	if err != nil {
		return err
	}
	rc, err := s.opts.Blobs.Open(ctx, m.Raw.SHA256)
	if err != nil {
		return fail("the built mail is missing from the blob store: " + err.Error())
	}
	err = mb.Transport.Send(ctx, d.From, d.Recipients, rc)
	rc.Close()
	var se *SendError
	switch {
	case err == nil:
		_, _, err = s.opts.Tickets.RecordDelivery(ctx, tenant, messageID, ticket.DeliverySent, "")
		if err == nil {
			s.log.InfoContext(ctx, "mailout: sent", "tenant", tenant, "message", messageID, "mailbox", mb.Name,
				"kind", d.Kind, "recipients", len(d.Recipients))
		}
		return err
	case ctx.Err() != nil:
		return err
	case errors.As(err, &se) && se.Permanent:
		return fail(se.Error())
	}
	if _, _, rerr := s.opts.Tickets.RecordDelivery(ctx, tenant, messageID, ticket.DeliveryQueued, err.Error()); rerr != nil {
		return errors.Join(err, rerr)
	}
	return fmt.Errorf("mailout: send message %d through %s: %w", messageID, mb.Name, err)
}

// replyRecipient is whom an agent's reply goes to: the Reply-To of the
// customer's last mail, else its sender, else the ticket's requester.
func replyRecipient(t ticket.Ticket, thread []ticket.Message) ticket.Address {
	for i := len(thread) - 1; i >= 0; i-- {
		m := thread[i]
		if m.Direction != ticket.DirectionInbound || m.Classification != ticket.ClassNormal {
			continue
		}
		if len(m.ReplyTo) > 0 && validEmail(m.ReplyTo[0].Email) {
			return m.ReplyTo[0]
		}
		if validEmail(m.From.Email) {
			return m.From
		}
	}
	return t.Requester
}

var replyPrefix = regexp.MustCompile(`(?i)^\s*(re|aw|sv|antw)\s*:\s*`)

// replySubject is "Re: " and the subject, once.
func replySubject(subject string) string {
	subject = strings.TrimSpace(subject)
	if replyPrefix.MatchString(subject) {
		return subject
	}
	return "Re: " + subject
}

// tagged adds the subject tag "[#123]" unless the subject has it.
func (s *Service) tagged(subject string, number int64) string {
	tag := "[" + s.opts.TagPrefix + strconv.FormatInt(number, 10) + "]"
	if strings.Contains(subject, tag) {
		return subject
	}
	return strings.TrimSpace(subject + " " + tag)
}

func validEmail(a string) bool {
	at := strings.LastIndexByte(a, '@')
	return at > 0 && at < len(a)-1 && !strings.ContainsAny(a, " \t\r\n<>,;\"")
}

var (
	tags   = regexp.MustCompile(`<[^>]*>`)
	breaks = regexp.MustCompile(`(?i)<br\s*/?>|</p>|</div>|</li>`)
)

// htmlToText is a rough text version of sanitised HTML, for a reply sent
// with HTML only.
func htmlToText(h string) string {
	return strings.TrimSpace(html.UnescapeString(tags.ReplaceAllString(breaks.ReplaceAllString(h, "\n"), "")))
}

// maxQuoted bounds the quoted original (a long thread quotes itself).
const maxQuoted = 64 << 10

// quoteLast appends the customer's last mail in thread to the reply,
// quoted: "On <date>, <sender> wrote:" and its text with "> " before each
// line (RFC 3676 quoting); a blockquote after the HTML, when there is one.
func quoteLast(thread []ticket.Message, text, htmlBody string) (string, string) {
	for i := len(thread) - 1; i >= 0; i-- {
		m := thread[i]
		if m.Direction != ticket.DirectionInbound || strings.TrimSpace(m.Text) == "" {
			continue
		}
		who := m.From.Email
		if m.From.Name != "" {
			who = m.From.Name + " <" + m.From.Email + ">"
		}
		intro := "On " + m.Date.Format("Mon, 2 Jan 2006 at 15:04 MST") + ", " + who + " wrote:"
		orig := strings.TrimRight(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n")
		if len(orig) > maxQuoted {
			orig = strings.ToValidUTF8(orig[:maxQuoted], "") + "\n[…]"
		}
		var q strings.Builder
		for _, line := range strings.Split(orig, "\n") {
			if strings.HasPrefix(line, ">") {
				q.WriteString(">" + line + "\n")
			} else {
				q.WriteString("> " + line + "\n")
			}
		}
		text = strings.TrimRight(text, "\n") + "\n\n" + intro + "\n" + q.String()
		if htmlBody != "" {
			htmlBody += "<p>" + html.EscapeString(intro) + "</p><blockquote type=\"cite\">" + paragraphs(orig) + "</blockquote>"
		}
		return text, htmlBody
	}
	return text, htmlBody
}
