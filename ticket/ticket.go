// Package ticket is the domain core of sidedesk: tickets, messages, the parties
// to them, and the rules (threading, loop guard, priority) that turn one
// captured email into ticket changes.
//
// It imports nothing else of sidedesk. Adapters (capture, crm, chat, calendar)
// produce or consume the types declared here; persistence sits behind the
// Store and Tx interfaces, implemented by package store.
package ticket

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// DefaultTenant is the tenant of the embedded single-team setup.
const DefaultTenant = "default"

// ErrNotFound is returned by store look-ups that find nothing. Callers test
// it with errors.Is; a look-up never answers (zero value, nil).
var ErrNotFound = errors.New("not found")

// Status is a ticket's life-cycle state.
type Status string

// Ticket statuses, in their usual order.
const (
	StatusNew     Status = "new"
	StatusOpen    Status = "open"
	StatusPending Status = "pending"
	StatusSolved  Status = "solved"
	StatusClosed  Status = "closed"
)

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusNew, StatusOpen, StatusPending, StatusSolved, StatusClosed:
		return true
	}
	return false
}

// Priority is a ticket's urgency.
type Priority string

// Ticket priorities, lowest first.
const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

// Rank orders priorities: low 1, normal 2, high 3, urgent 4; unknown 0.
func (p Priority) Rank() int {
	switch p {
	case PriorityLow:
		return 1
	case PriorityNormal:
		return 2
	case PriorityHigh:
		return 3
	case PriorityUrgent:
		return 4
	}
	return 0
}

// Valid reports whether p is one of the known priorities.
func (p Priority) Valid() bool { return p.Rank() > 0 }

// Direction says who wrote a message.
type Direction string

// Message directions.
const (
	DirectionInbound  Direction = "inbound"  // from a customer, captured from a mailbox
	DirectionOutgoing Direction = "outgoing" // from an agent (or an acknowledgement) to the customer
	DirectionNote     Direction = "note"     // internal note, never sent
)

// Classification is the loop guard's verdict on an inbound message.
type Classification string

// Classifications (DESIGN.md "Loop guard").
const (
	ClassNormal    Classification = "normal"
	ClassAutoReply Classification = "auto_reply"
	ClassBounce    Classification = "bounce"
	ClassList      Classification = "list"
	// ClassFeedback is a feedback loop or abuse report (ARF, an Amazon SES
	// complaint): machine mail about mail, never a ticket.
	ClassFeedback Classification = "feedback"
)

// Address is one mailbox of an address header.
type Address struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// NormEmail lower-cases and trims an address for comparison and storage keys.
func NormEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// BlobRef names stored bytes by content: the hex SHA-256 and the size.
type BlobRef struct {
	SHA256 string
	Size   int64
}

// BlobWriter writes one blob as a stream (store.Blobs.Create): Write its
// bytes, then Commit to get its address, or Abort to drop it. A capture
// tees a message into one while it parses it, reading the bytes once.
type BlobWriter interface {
	io.Writer
	Commit(ctx context.Context) (BlobRef, error)
	Abort()
}

// Base64Run is a run of a raw message's bytes that is exactly the base64
// (RFC 2045 §6.8: the standard alphabet, padding, every line Line
// characters but the last, each ended by CRLF or LF) of the first Size bytes
// of a stored blob, an attachment decoded. A capture tells the raw message's
// CutWriter about such runs, so the store keeps their bytes once, decoded,
// and rebuilds them when the raw message is read (as Dovecot's
// single-instance attachment storage does).
type Base64Run struct {
	Start, End int64  // offsets of the run in the raw message
	Blob       string // hex SHA-256 of the decoded blob
	Size       int64  // the run encodes the blob's first Size bytes
	Line       int    // characters per line (a multiple of 4); 0: the run is the blob's bytes as they are
	CRLF       bool   // lines end with CRLF, not LF
	EOL        bool   // the last line is ended too
}

// CutWriter is the BlobWriter of a raw message that can keep base64 runs as
// references to their decoded blobs. Hold starts holding written bytes back:
// a held byte is written as it is once it is below safe(), or dropped by
// Elide (bytes from..to are part of a run; Elide's calls of one run are
// contiguous; false: the writer keeps everything as it is from now on, and
// the caller must not Cut). Cut ends the run Elide dropped and says what it
// is.
type CutWriter interface {
	BlobWriter
	Hold(safe func() int64)
	Elide(from, to int64) bool
	Cut(r Base64Run) error
}

// Ticket is one customer conversation.
type Ticket struct {
	ID        int64
	Tenant    string
	Number    int64 // per-tenant, human-facing: [#Number]
	Subject   string
	Status    Status
	Priority  Priority
	Requester Address
	Mailbox   string // name of the mailbox that first captured it
	Assignee  string // agent email; empty when unassigned
	// ConversationID is the Outlook conversation id (from Thread-Index) of
	// the first message, when it had one.
	ConversationID string
	// LinkedTicketID is the earlier ticket this one continues, when a reply
	// came after the earlier one had been closed longer than the reopen window.
	LinkedTicketID int64
	// Tags are the agent's labels, normalised by NormTags: lower case,
	// sorted, no duplicates.
	Tags []string
	// CustomFields are integrators' values by key (checked by the
	// service: scalar values, at most MaxCustomFields).
	CustomFields map[string]any
	// MergedInto is the ticket this one was merged into (its messages are
	// there now); 0 for a ticket not merged.
	MergedInto int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ClosedAt   time.Time // zero unless Status is solved or closed
}

// Message is one email (or note) on a ticket.
type Message struct {
	ID             int64
	Tenant         string
	TicketID       int64 // 0 while held by the loop guard
	Mailbox        string
	MessageID      string // without angle brackets
	InReplyTo      string
	References     []string
	ConversationID string
	Direction      Direction
	Classification Classification
	From           Address
	To             []Address
	Cc             []Address
	ReplyTo        []Address
	Subject        string
	Date           time.Time
	Text           string
	HTML           string // sanitised for display
	Raw            BlobRef
	BodyHash       string // hex SHA-256 of the bytes after the header block (see BodyHasher); "" until a duplicate look-up needs it
	ParseError     string // non-empty when the mail was malformed; raw is kept
	// ParseFlags are short codes of what was wrong or cut (see
	// capture.ParseFlags), sorted.
	ParseFlags  []string
	Held        bool // held by the loop guard (flood, unthreaded non-normal mail), not ticketed
	Attachments []Attachment
	CreatedAt   time.Time // when sidedesk stored it
	// Delivery is the sending state of an outgoing message (filled by the
	// store's reads); nil for other messages.
	Delivery *Delivery
	// SearchWords are the message's distinct search words when they were
	// worked out before the transaction (WordIndexer); nil: the store works
	// them out while it inserts. Not read back.
	SearchWords []string
}

// Attachment is one non-body part of a message, decoded and stored as a blob.
type Attachment struct {
	ID          int64
	Filename    string
	ContentType string
	Size        int64
	SHA256      string
	Inline      bool
	ContentID   string // without angle brackets
}

// Header holds a message's top-level header fields, keyed by canonical MIME
// key (textproto.CanonicalMIMEHeaderKey), values decoded where the parser
// could (RFC 2047) and in order of appearance.
type Header map[string][]string

// Get returns the first value of key (any case), or "".
func (h Header) Get(key string) string {
	if v := h[CanonicalKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Has reports whether the header has the field at all.
func (h Header) Has(key string) bool { return len(h[CanonicalKey(key)]) > 0 }

// CanonicalKey is the form of Header's keys: lower case with the first
// letter and every letter after '-' upper-cased. Unlike
// textproto.CanonicalMIMEHeaderKey it also normalises keys with bytes that
// are not token characters, so every key Header.Get is asked finds its field.
func CanonicalKey(k string) string {
	b := []byte(strings.ToLower(k))
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		upper = c == '-'
	}
	return string(b)
}

// Inbound is one captured email, parsed, as capture hands it to the Service.
// Every capture source (IMAP, Gmail) produces it; the raw bytes and the
// attachment bytes are already in the blob store when Ingest is called.
type Inbound struct {
	Tenant  string
	Mailbox string // configured mailbox name
	// SourceKey identifies the message in its source, unique within the
	// mailbox: "imap:<uidvalidity>:<uid>" or "gmail:<id>".
	SourceKey string
	Raw       BlobRef
	// BodyHash is the body hash (see BodyHasher) when the source worked
	// it out; capture leaves it "", and the duplicate look-up works it out
	// from Raw when a stored message has the same Message-ID (BodyKey). A
	// message with neither is deduplicated by its source key only.
	BodyHash string
	Header   Header

	MessageID      string // without angle brackets; may be empty on broken mail
	InReplyTo      string
	References     []string
	ConversationID string // from Thread-Index (Outlook), when present
	From           Address
	To             []Address
	Cc             []Address
	ReplyTo        []Address
	// ReturnPath is the Return-Path address; Header says whether it was
	// present at all ("<>" makes it present and empty: a bounce).
	ReturnPath string
	Subject    string
	Date       time.Time
	Text       string
	HTML       string // sanitised
	// DeliveryReport is true for a delivery status notification: a
	// multipart/report of report-type delivery-status (or none), or any
	// message/delivery-status part.
	DeliveryReport bool
	// FeedbackReport is true for an abuse or spam complaint (ARF, RFC
	// 5965: report-type feedback-report or a message/feedback-report part).
	FeedbackReport bool
	// ReturnedMessageID is the Message-ID of the original mail that a bounce
	// returns, read from its message/rfc822 or text/rfc822-headers part.
	ReturnedMessageID string
	Attachments       []Attachment
	ParseError        string
	ParseFlags        []string
	ReceivedAt        time.Time // when capture fetched it
	// Outgoing: captured from the mailbox's Sent folder, so written by one
	// of us (an agent answering from Outlook or Gmail). It joins the ticket
	// it threads onto as an outgoing message and sets the ticket pending;
	// it never opens a ticket (unthreaded, it is kept held).
	Outgoing bool
}

// Event is one row of the transactional outbox: written in the transaction
// that made the change, delivered later by dispatchers.
type Event struct {
	ID        int64
	Tenant    string
	Type      string // see the Event* constants
	TicketID  int64
	MessageID int64
	Payload   []byte // JSON
	CreatedAt time.Time
}

// DeadLetter is an outbox event one consumer gave up on: its delivery
// failed permanently or kept failing for longer than the consumer retries.
// The consumer went on with the events after it; the dead letter keeps the
// last error for an admin to read and, once the cause is fixed, redeliver.
type DeadLetter struct {
	Consumer      string
	Event         Event
	Attempts      int
	LastError     string
	FirstFailedAt time.Time
	DeadAt        time.Time
	// Redeliver: an admin asked for another delivery, not made yet.
	Redeliver bool
}

// Event types.
const (
	EventTicketCreated   = "ticket.created"
	EventTicketUpdated   = "ticket.updated"
	EventMessageReceived = "message.received"
	EventMessageHeld     = "message.held"
	// EventCRMLinked: an email or ticket was saved to a CRM record; the
	// payload is CRMLinkedPayload.
	EventCRMLinked = "crm.linked"
)

// CRMLinkedPayload is the payload of EventCRMLinked.
type CRMLinkedPayload struct {
	Object       string `json:"object"`    // account, contact, lead, opportunity, case
	RecordID     string `json:"record_id"` // the CRM's id
	LinkID       string `json:"link_id"`
	MessageID    string `json:"message_id,omitempty"` // RFC 5322, no angle brackets
	Actor        string `json:"actor,omitempty"`
	TicketNumber int64  `json:"ticket_number,omitempty"`
}

// Result says what one Ingest did.
type Result struct {
	MessageID    int64 // the stored message (the existing one for a duplicate)
	TicketID     int64 // 0 when the message was held
	TicketNumber int64
	Duplicate    bool // already captured: nothing new was written but the source key
	NewTicket    bool
	Reopened     bool
	// Held: stored on no ticket by the loop guard: the sender's flood limit,
	// or a bounce, auto-reply or list mail that threads onto no ticket.
	Held           bool
	Classification Classification
}
