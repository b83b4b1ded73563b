package ticket

import (
	"context"
	"time"
)

// Store is the persistence the Service needs. Package store implements it
// (SQLite now, PostgreSQL later). All of one Ingest happens in one WithTx.
type Store interface {
	// WithTx runs fn in one database transaction, committing when fn returns
	// nil and rolling back otherwise. fn may be retried by the store on a
	// serialisation failure, so it must have no side effects outside tx.
	WithTx(ctx context.Context, fn func(Tx) error) error
}

// WordIndexer is a Store that indexes a message's words for search: the
// Service has it work them out (Message.SearchWords) while it prepares a
// mail, on the goroutines that parse, not in the one transaction at a
// time a store commits.
type WordIndexer interface {
	SearchWords(subject, text, fromEmail, fromName string) []string
}

// Tx is the set of reads and writes one Ingest (or agent action) makes
// inside its transaction. Every method is scoped by tenant; look-ups that
// find nothing return an error wrapping ErrNotFound. Times in the values
// passed in (CreatedAt, UpdatedAt, ClosedAt) are stored as given, in UTC,
// because the Service stamps them from its own clock (Options.Now) and
// compares against them (CountFromSender, the reopen window); a zero
// CreatedAt means the store's now.
type Tx interface {
	// SourceMessage returns the stored message id already captured under
	// (tenant, mailbox, key), the capture idempotency key.
	SourceMessage(ctx context.Context, tenant, mailbox, key string) (int64, error)
	// AddSource records that (tenant, mailbox, key) delivered messageID.
	// Adding the same triple twice is not an error.
	AddSource(ctx context.Context, tenant, mailbox, key string, messageID int64) error
	// MessageByBody finds the first stored message of the tenant with this
	// Message-ID and the body body names (the same mail delivered twice),
	// or the outgoing message of ours with this Message-ID whatever the
	// body (our mail coming back: a BCC copy, a list's echo with a footer
	// added); with a zero body, only that outgoing message. ErrNotFound
	// when there is none. Body hashes are worked out (from raw blobs) only
	// when a stored message with the Message-ID is there to compare.
	MessageByBody(ctx context.Context, tenant, messageID string, body BodyKey) (Message, error)
	// MessageByRaw finds the first stored message of the tenant without a
	// Message-ID whose raw bytes have this SHA-256 (the same mail without
	// an id, delivered twice); ErrNotFound when there is none.
	MessageByRaw(ctx context.Context, tenant, rawSHA256 string) (Message, error)

	// TicketIDsByMessageIDs returns, for the given Message-IDs, the ticket
	// ids of stored, ticketed messages of the tenant, most recently stored
	// message first, without duplicates.
	TicketIDsByMessageIDs(ctx context.Context, tenant string, messageIDs []string) ([]int64, error)
	// TicketIDsReferencing returns the ticket ids of stored, ticketed
	// messages of the tenant whose In-Reply-To or References name any of
	// messageIDs, most recently stored message first, without duplicates.
	TicketIDsReferencing(ctx context.Context, tenant string, messageIDs []string) ([]int64, error)
	// Ticket loads one ticket by id.
	Ticket(ctx context.Context, tenant string, id int64) (Ticket, error)
	// TicketByNumber loads one ticket by its per-tenant number.
	TicketByNumber(ctx context.Context, tenant string, number int64) (Ticket, error)
	// TicketByConversation finds the most recently updated ticket with this
	// Outlook conversation id.
	TicketByConversation(ctx context.Context, tenant, conversationID string) (Ticket, error)
	// IsParticipant reports whether email (normalised) is a participant of
	// the ticket: its requester or an address on any of its messages.
	IsParticipant(ctx context.Context, tenant string, ticketID int64, email string) (bool, error)
	// CountFromSender counts inbound messages of the tenant from email
	// (normalised) whose Date lies in [from, to], held ones included,
	// counting no further than limit (the caller only asks "at least
	// limit?", and a busy sender must not make the count cost more).
	CountFromSender(ctx context.Context, tenant, email string, from, to time.Time, limit int) (int, error)

	// CreateTicket inserts t, assigning t.ID and the next per-tenant t.Number.
	CreateTicket(ctx context.Context, t *Ticket) error
	// UpdateTicket writes every mutable field of t (status, priority,
	// assignee, subject, updated_at, closed_at).
	UpdateTicket(ctx context.Context, t Ticket) error
	// InsertMessage inserts m with its attachments, assigning m.ID and the
	// attachments' IDs, and adds its From/To/Cc addresses to the ticket's
	// participants when m.TicketID is set.
	InsertMessage(ctx context.Context, m *Message) error
	// AttachMessage moves a held message onto a ticket (release from hold)
	// or re-files it; it clears Held and updates participants.
	AttachMessage(ctx context.Context, tenant string, messageID, ticketID int64) error
	// AppendEvent writes one outbox event, assigning e.ID.
	AppendEvent(ctx context.Context, e *Event) error
	// MergeTicket moves everything of ticket from onto ticket into (its
	// messages, participants, CRM links, deliveries) and records from as
	// merged into it. Ticket fields (status, tags, ...) are the caller's
	// to update.
	MergeTicket(ctx context.Context, tenant string, from, into int64) error

	// Prefetch is told the messages of a batch before Commit ingests
	// them, so that a store can look up their duplicate keys (source keys,
	// Message-IDs) at once: SourceMessage and MessageByBody may then answer
	// a prefetched key that is not stored without a query. Rows the
	// transaction inserts must count as stored from then on. Doing nothing
	// is a valid implementation.
	Prefetch(ctx context.Context, ins []Inbound) error

	// Outgoing mail (QueueOutgoing, RecordDelivery).

	// InsertDelivery stores d for an inserted outgoing message.
	InsertDelivery(ctx context.Context, d Delivery) error
	// DeliveryByKind finds the delivery of kind on a ticket (the one
	// acknowledgement a ticket gets); ErrNotFound when there is none.
	DeliveryByKind(ctx context.Context, tenant string, ticketID int64, kind OutgoingKind) (Delivery, error)
	// Delivery loads the delivery of an outgoing message; ErrNotFound
	// when the message has none.
	Delivery(ctx context.Context, tenant string, messageID int64) (Delivery, error)
	// UpdateDelivery writes d's State, Attempts, LastError and SentAt.
	UpdateDelivery(ctx context.Context, d Delivery) error

	// IdempotencyKey finds the ticket a request with this key created and
	// the hash of that request; ErrNotFound when the key is new.
	IdempotencyKey(ctx context.Context, tenant, key string) (ticketID int64, requestHash string, err error)
	// PutIdempotencyKey records the ticket a key's request created.
	PutIdempotencyKey(ctx context.Context, tenant, key, requestHash string, ticketID int64) error

	// What Service.Ingest needs beyond the look-ups above; implement them alike.

	// Message loads one stored message of the tenant by its id (Message.ID),
	// with its Attachments; ErrNotFound when the tenant has no such message.
	// Ingest uses it to answer a re-captured source key with the stored
	// message's ticket.
	Message(ctx context.Context, tenant string, id int64) (Message, error)
	// OpenTicketsByRequester returns at most limit tickets of the tenant
	// whose requester email equals email (normalised) and whose status is
	// new, open or pending, most recently updated first (ties: higher id
	// first). An empty slice, not ErrNotFound, when there are none. Used
	// only by subject matching (Options.SubjectMatching).
	OpenTicketsByRequester(ctx context.Context, tenant, email string, limit int) ([]Ticket, error)
}
