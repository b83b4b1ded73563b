package ticket

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Outgoing mail: a reply an agent wrote, or an acknowledgement. It is
// built once (its raw bytes stored as a blob, like captured mail), stored
// as a message of direction outgoing with a Delivery beside it, and sent
// by the mail consumer of the outbox (package mailout) from the
// EventMessageQueued event, so nothing is lost and a retry sends the same
// bytes.

// Outgoing mail events.
const (
	EventMessageQueued = "message.queued" // an outgoing message waits to be sent
	EventMessageSent   = "message.sent"   // the mail server accepted it
	EventMessageFailed = "message.failed" // it cannot be sent: Delivery.LastError says why
)

// DeliveryState is where an outgoing message is on its way.
type DeliveryState string

// Delivery states.
const (
	DeliveryQueued DeliveryState = "queued"
	DeliverySent   DeliveryState = "sent"
	DeliveryFailed DeliveryState = "failed"
)

// OutgoingKind says why a message is sent.
type OutgoingKind string

// Outgoing kinds.
const (
	OutgoingReply OutgoingKind = "reply" // an agent's answer
	OutgoingAck   OutgoingKind = "ack"   // the acknowledgement of a new ticket
)

// Delivery is the sending state of one outgoing message.
type Delivery struct {
	Tenant    string
	MessageID int64 // the outgoing message (Message.ID)
	TicketID  int64
	Mailbox   string // the mailbox whose transport sends it
	Kind      OutgoingKind
	State     DeliveryState
	// From and Recipients are the SMTP envelope: the mailbox address
	// (bounces come back to it) and every To and Cc address.
	From       string
	Recipients []string
	Attempts   int
	LastError  string // the server's answer when it failed
	QueuedAt   time.Time
	SentAt     time.Time
}

// Outgoing is a built message to queue (Service.QueueOutgoing).
type Outgoing struct {
	TicketID int64
	// Message is the built mail: Raw (its stored bytes), MessageID,
	// InReplyTo, References, From, To, Cc, ReplyTo, Subject, Date, Text,
	// HTML and BodyHash. Direction and TicketID are set by QueueOutgoing.
	Message    Message
	Kind       OutgoingKind
	Mailbox    string
	From       string   // envelope sender
	Recipients []string // envelope recipients
	// StatusAfter, when set, is the ticket's status once the reply is
	// queued (an agent answers and waits: pending).
	StatusAfter *Status
	Actor       string // who queued it, for the event
}

// ReplyRequest is an agent's reply to a ticket (POST
// /api/v1/tickets/{id}/replies, the panel's reply box).
type ReplyRequest struct {
	BodyText string
	BodyHTML string // optional; sanitised before it is sent
	Cc       []Address
	// StatusAfter is the ticket's status once the reply is queued; nil
	// means pending (the customer owes the next answer).
	StatusAfter *Status
	Actor       string // the agent's email, or "api:<token name>"
	// Quote appends the customer's last mail, quoted ("On …, … wrote:"
	// and "> " lines; a blockquote in the HTML part).
	Quote bool
	// Attachments are ids of the tenant's uploads (POST /api/v1/uploads).
	Attachments []int64
}

// QueueOutgoing stores a built outgoing message on its ticket with its
// delivery (queued) and the EventMessageQueued event that gets it sent,
// in one transaction, and applies StatusAfter. An acknowledgement is
// queued once per ticket: queueing another returns the first.
func (s *Service) QueueOutgoing(ctx context.Context, tenant string, o Outgoing) (Message, Delivery, error) {
	if tenant == "" {
		tenant = DefaultTenant
	}
	if len(o.Recipients) == 0 {
		return Message{}, Delivery{}, fmt.Errorf("ticket: queue mail: %w no recipient", ErrInvalid)
	}
	if o.StatusAfter != nil && !o.StatusAfter.Valid() {
		return Message{}, Delivery{}, fmt.Errorf("ticket: queue mail: %w status %q", ErrInvalid, *o.StatusAfter)
	}
	var (
		outM Message
		outD Delivery
	)
	err := s.opts.Store.WithTx(ctx, func(tx Tx) error {
		t, err := tx.Ticket(ctx, tenant, o.TicketID)
		if err != nil {
			return fmt.Errorf("load ticket %d: %w", o.TicketID, err)
		}
		if o.Kind == OutgoingAck {
			d, err := tx.DeliveryByKind(ctx, tenant, t.ID, OutgoingAck)
			switch {
			case err == nil:
				outD = d
				outM, err = tx.Message(ctx, tenant, d.MessageID)
				return err
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		now := s.now()
		m := o.Message
		m.Tenant, m.TicketID, m.Direction, m.Classification = tenant, t.ID, DirectionOutgoing, ClassNormal
		m.Mailbox = o.Mailbox
		if m.Date.IsZero() {
			m.Date = now
		}
		m.CreatedAt = now
		if err := tx.InsertMessage(ctx, &m); err != nil {
			return fmt.Errorf("store outgoing message: %w", err)
		}
		d := Delivery{
			Tenant: tenant, MessageID: m.ID, TicketID: t.ID, Mailbox: o.Mailbox, Kind: o.Kind,
			State: DeliveryQueued, From: o.From, Recipients: o.Recipients, QueuedAt: now,
		}
		if err := tx.InsertDelivery(ctx, d); err != nil {
			return fmt.Errorf("store delivery: %w", err)
		}
		payload := EventPayload{TicketNumber: t.Number, MessageID: m.MessageID, Actor: o.Actor, Reason: string(o.Kind)}
		if o.StatusAfter != nil && *o.StatusAfter != t.Status {
			payload.Changes = map[string]FieldChange{"status": {From: string(t.Status), To: string(*o.StatusAfter)}}
			t.Status = *o.StatusAfter
			if t.Status == StatusSolved || t.Status == StatusClosed {
				t.ClosedAt = now
			}
		}
		if o.Kind == OutgoingReply {
			t.UpdatedAt = now // an acknowledgement is no activity of an agent
		}
		if err := tx.UpdateTicket(ctx, t); err != nil {
			return fmt.Errorf("update ticket %d: %w", t.ID, err)
		}
		outM, outD = m, d
		return appendEvent(ctx, tx, tenant, EventMessageQueued, t.ID, m.ID, payload, now)
	})
	if err != nil {
		return Message{}, Delivery{}, fmt.Errorf("ticket: queue mail on ticket %d: %w", o.TicketID, err)
	}
	d := outD
	outM.Delivery = &d
	return outM, outD, nil
}

// RecordDelivery records one attempt to send an outgoing message: sent
// (EventMessageSent), failed for good with the server's answer
// (EventMessageFailed), or, with state queued, a failure that will be
// retried (the attempt and its error are counted; no event). A message
// already sent or failed is left as it is, and ok is false.
func (s *Service) RecordDelivery(ctx context.Context, tenant string, messageID int64, state DeliveryState, reason string) (d Delivery, ok bool, err error) {
	if tenant == "" {
		tenant = DefaultTenant
	}
	err = s.opts.Store.WithTx(ctx, func(tx Tx) error {
		ok = false
		var err error
		if d, err = tx.Delivery(ctx, tenant, messageID); err != nil {
			return err
		}
		if d.State != DeliveryQueued {
			return nil
		}
		now := s.now()
		d.Attempts++
		d.LastError = strings.TrimSpace(reason)
		d.State = state
		if state == DeliverySent {
			d.SentAt, d.LastError = now, ""
		}
		if err := tx.UpdateDelivery(ctx, d); err != nil {
			return err
		}
		ok = true
		if state == DeliveryQueued {
			return nil
		}
		typ := EventMessageSent
		if state == DeliveryFailed {
			typ = EventMessageFailed
		}
		t, err := tx.Ticket(ctx, tenant, d.TicketID)
		if err != nil {
			return err
		}
		return appendEvent(ctx, tx, tenant, typ, d.TicketID, messageID, EventPayload{
			TicketNumber: t.Number, Reason: d.LastError,
		}, now)
	})
	if err != nil {
		return Delivery{}, false, fmt.Errorf("ticket: record delivery of message %d: %w", messageID, err)
	}
	return d, ok, nil
}

// Upload is a file uploaded to attach to replies (POST /api/v1/uploads).
type Upload struct {
	ID          int64
	Tenant      string
	Filename    string
	ContentType string
	Size        int64
	SHA256      string
	CreatedBy   string
	CreatedAt   time.Time
}
