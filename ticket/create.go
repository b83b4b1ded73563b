package ticket

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// EventNoteAdded is written when an agent adds an internal note to a
// ticket; Event.MessageID is the note's row id. Consumers that do not know
// it skip it.
const EventNoteAdded = "note.added"

// NewTicket is an agent's request to open a ticket for an email that
// capture has not stored (yet), from what the mail client shows of it.
type NewTicket struct {
	// RFCMessageID is the email's Message-ID (angle brackets optional). A
	// note carrying it is stored on the ticket, so the panel finds the
	// ticket by it, and later mail whose References name it threads onto
	// the ticket (DESIGN.md "Threading", rule 1). Optional.
	RFCMessageID string
	Subject      string
	Requester    Address // required: the sender
	Priority     Priority
	Assignee     string
	Tags         []string // normalised by NormTags
	CustomFields map[string]any
	Actor        string // agent email, recorded on the events and the note

	// Source says where the ticket was opened: "sidebar" (the default) or
	// "api"; it is the ticket.created event's reason.
	Source string
	// Text, when set, is the note stored on the new ticket (what the
	// customer asked, as the agent took it down) instead of the note
	// saying where the ticket came from.
	Text string
	// IdempotencyKey makes a retried create return the first one's ticket
	// (the API's Idempotency-Key header); RequestHash is the request it
	// came with: the same key with another request is refused
	// (ErrIdempotencyConflict).
	IdempotencyKey string
	RequestHash    string
}

// ErrIdempotencyConflict: an idempotency key was used before for another
// request.
var ErrIdempotencyConflict = errors.New("the idempotency key was used for another request")

// CreateFromPanel opens a ticket from an agent's action, in one
// transaction with its ticket.created event and a note saying where it came
// from. It is idempotent on RFCMessageID: when a ticketed message of the
// tenant already carries it (captured meanwhile, or a second click), that
// message's ticket is returned and nothing is written. Errors on bad input
// wrap ErrInvalid.
func (s *Service) CreateFromPanel(ctx context.Context, tenant string, req NewTicket) (Ticket, error) {
	t, _, err := s.Create(ctx, tenant, req)
	return t, err
}

// Create is CreateFromPanel that also tells whether the ticket was made
// before (replayed: the same RFCMessageID or IdempotencyKey).
func (s *Service) Create(ctx context.Context, tenant string, req NewTicket) (t Ticket, replayed bool, err error) {
	t, replayed, err = s.create(ctx, tenant, req)
	return
}

func (s *Service) create(ctx context.Context, tenant string, req NewTicket) (Ticket, bool, error) {
	if tenant == "" {
		tenant = DefaultTenant
	}
	req.RFCMessageID = strings.Trim(strings.TrimSpace(req.RFCMessageID), "<>")
	req.Requester.Email = NormEmail(req.Requester.Email)
	if a, err := mail.ParseAddress(req.Requester.Email); err != nil || a.Address != req.Requester.Email {
		return Ticket{}, false, fmt.Errorf("ticket: create: %w requester %q (want an email address)", ErrInvalid, req.Requester.Email)
	}
	if req.Priority == "" {
		req.Priority = PriorityNormal
	}
	if !req.Priority.Valid() {
		return Ticket{}, false, fmt.Errorf("ticket: create: %w priority %q", ErrInvalid, req.Priority)
	}
	req.Assignee = NormEmail(req.Assignee)
	if err := s.checkAgent(ctx, tenant, req.Assignee); err != nil {
		return Ticket{}, false, err
	}
	tags, err := NormTags(req.Tags)
	if err != nil {
		return Ticket{}, false, fmt.Errorf("ticket: create: %w", err)
	}
	fields, err := NewCustomFields(req.CustomFields)
	if err != nil {
		return Ticket{}, false, fmt.Errorf("ticket: create: %w", err)
	}
	subject := strings.TrimSpace(req.Subject)
	if subject == "" {
		subject = "(no subject)"
	}
	if req.Source == "" {
		req.Source = "sidebar"
	}
	var (
		out      Ticket
		replayed bool
	)
	err = s.opts.Store.WithTx(ctx, func(tx Tx) error {
		replayed = false
		if req.IdempotencyKey != "" {
			id, hash, err := tx.IdempotencyKey(ctx, tenant, req.IdempotencyKey)
			switch {
			case err == nil && hash != req.RequestHash:
				return ErrIdempotencyConflict
			case err == nil:
				out, err = tx.Ticket(ctx, tenant, id)
				replayed = true
				return err
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		if req.RFCMessageID != "" {
			ids, err := tx.TicketIDsByMessageIDs(ctx, tenant, []string{req.RFCMessageID})
			if err != nil {
				return err
			}
			if len(ids) > 0 {
				out, err = tx.Ticket(ctx, tenant, ids[0])
				replayed = true
				return err
			}
		}
		now := s.now()
		t := Ticket{
			Tenant: tenant, Subject: subject, Status: StatusNew, Priority: req.Priority,
			Requester: req.Requester, Assignee: req.Assignee, Tags: tags, CustomFields: fields, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.CreateTicket(ctx, &t); err != nil {
			return fmt.Errorf("create ticket: %w", err)
		}
		text := "Ticket created from the " + req.Source
		if req.Actor != "" {
			text += " by " + req.Actor
		}
		text += " for the email from " + req.Requester.Email
		if req.RFCMessageID != "" {
			text += " <" + req.RFCMessageID + ">"
		}
		text += " (the email itself was not captured)."
		if t := strings.TrimSpace(req.Text); t != "" {
			text = t
		}
		if req.IdempotencyKey != "" {
			if err := tx.PutIdempotencyKey(ctx, tenant, req.IdempotencyKey, req.RequestHash, t.ID); err != nil {
				return err
			}
		}
		note := Message{
			Tenant: tenant, TicketID: t.ID, MessageID: req.RFCMessageID, Direction: DirectionNote,
			Classification: ClassNormal, From: Address{Email: req.Actor}, Subject: subject,
			Text: text, Date: now, CreatedAt: now,
		}
		if err := tx.InsertMessage(ctx, &note); err != nil {
			return fmt.Errorf("store note: %w", err)
		}
		out = t
		return appendEvent(ctx, tx, tenant, EventTicketCreated, t.ID, note.ID, EventPayload{
			TicketNumber: t.Number, MessageID: req.RFCMessageID, Reason: req.Source, Actor: req.Actor,
			Priority: t.Priority,
		}, now)
	})
	if err != nil {
		return Ticket{}, false, fmt.Errorf("ticket: create: %w", err)
	}
	return out, replayed, nil
}

// AddNote adds an internal note (a Message with Direction note, never
// sent) by author to ticket id of tenant, bumps the ticket's UpdatedAt and
// writes a note.added event, in one transaction.
func (s *Service) AddNote(ctx context.Context, tenant string, id int64, author, text string) (Message, error) {
	if tenant == "" {
		tenant = DefaultTenant
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return Message{}, fmt.Errorf("ticket: add note: %w empty note", ErrInvalid)
	}
	const maxNote = 64 << 10
	if len(text) > maxNote {
		return Message{}, fmt.Errorf("ticket: add note: %w note longer than %d bytes", ErrInvalid, maxNote)
	}
	var out Message
	err := s.opts.Store.WithTx(ctx, func(tx Tx) error {
		t, err := tx.Ticket(ctx, tenant, id)
		if err != nil {
			return fmt.Errorf("load ticket %d: %w", id, err)
		}
		now := s.now()
		m := Message{
			Tenant: tenant, TicketID: t.ID, Direction: DirectionNote, Classification: ClassNormal,
			From: Address{Email: author}, Subject: t.Subject, Text: text, Date: now, CreatedAt: now,
		}
		if err := tx.InsertMessage(ctx, &m); err != nil {
			return fmt.Errorf("store note: %w", err)
		}
		t.UpdatedAt = now
		if err := tx.UpdateTicket(ctx, t); err != nil {
			return fmt.Errorf("update ticket %d: %w", id, err)
		}
		out = m
		return appendEvent(ctx, tx, tenant, EventNoteAdded, t.ID, m.ID, EventPayload{
			TicketNumber: t.Number, Actor: author,
		}, now)
	})
	if err != nil {
		return Message{}, fmt.Errorf("ticket: add note: %w", err)
	}
	return out, nil
}
