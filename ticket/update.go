package ticket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
)

// ErrInvalid marks a request the domain rejects (an unknown status, a
// malformed address, ...). The HTTP edge maps it to 400.
var ErrInvalid = errors.New("invalid")

// EventPayload is the JSON body of the events the Service writes. Fields
// that do not apply are left out.
type EventPayload struct {
	TicketNumber int64 `json:"ticket_number,omitempty"`
	// MessageID is the RFC 5322 Message-ID (no angle brackets) of the
	// message the event is about; Event.MessageID holds its row id.
	MessageID string `json:"message_id,omitempty"`
	// Reason says why: the threading rule (Rule*) or "new_ticket" for
	// message.received; "new" or "reopen_window_passed" for ticket.created;
	// "flood" or "unthreaded_<class>" for message.held; "reopened",
	// "customer_reply" or "agent" for ticket.updated.
	Reason         string                 `json:"reason,omitempty"`
	Classification Classification         `json:"classification,omitempty"`
	LinkedTicketID int64                  `json:"linked_ticket_id,omitempty"`
	Actor          string                 `json:"actor,omitempty"`
	Changes        map[string]FieldChange `json:"changes,omitempty"` // by field: status, priority, assignee, tags (comma-joined), custom_fields.<key>, merged_into, merged
	// MergedInto, on a merge, is the number of the ticket the merged
	// tickets went into; MergedFrom the numbers of those merged.
	MergedInto int64   `json:"merged_into,omitempty"`
	MergedFrom []int64 `json:"merged_from,omitempty"`
	// Priority and PriorityReasons, on ticket.created, say which rules
	// (Prioritizer.Prioritize) set the new ticket's priority.
	Priority        Priority `json:"priority,omitempty"`
	PriorityReasons []string `json:"priority_reasons,omitempty"`
}

// FieldChange is one field's old and new value in a ticket.updated event.
type FieldChange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func appendEvent(ctx context.Context, tx Tx, tenant, typ string, ticketID, messageID int64, p EventPayload, now time.Time) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode %s payload: %w", typ, err)
	}
	e := Event{Tenant: tenant, Type: typ, TicketID: ticketID, MessageID: messageID, Payload: b, CreatedAt: now}
	if err := tx.AppendEvent(ctx, &e); err != nil {
		return fmt.Errorf("append %s event: %w", typ, err)
	}
	return nil
}

// Change is an agent's edit of a ticket; nil fields stay as they are.
type Change struct {
	Status   *Status
	Priority *Priority
	// Assignee is the agent's email; "" unassigns.
	Assignee *string
	// Tags replaces the ticket's tags (normalised by NormTags); an empty
	// list removes them all.
	Tags *[]string
	// CustomFields sets the fields it names (a nil value removes one);
	// fields it does not name stay.
	CustomFields map[string]any
	// Actor is who made the change (agent email, "slack:U123", "api:token
	// name"), recorded in the event.
	Actor string
}

// Update applies an agent's change to ticket id of tenant in one
// transaction and writes a ticket.updated event listing the changed fields.
// Values are checked first (errors wrap ErrInvalid and name the bad value);
// a change that changes nothing writes nothing and returns the ticket as it
// is. Moving to solved or closed stamps ClosedAt (kept when moving between
// the two); moving back to new, open or pending clears it.
func (s *Service) Update(ctx context.Context, tenant string, id int64, ch Change) (Ticket, error) {
	if tenant == "" {
		tenant = DefaultTenant
	}
	if ch.Status != nil && !ch.Status.Valid() {
		return Ticket{}, fmt.Errorf("ticket: %w status %q (want new, open, pending, solved or closed)", ErrInvalid, *ch.Status)
	}
	if ch.Priority != nil && !ch.Priority.Valid() {
		return Ticket{}, fmt.Errorf("ticket: %w priority %q (want low, normal, high or urgent)", ErrInvalid, *ch.Priority)
	}
	var assignee string
	if ch.Assignee != nil {
		assignee = NormEmail(*ch.Assignee)
		if assignee != "" {
			if a, err := mail.ParseAddress(assignee); err != nil || a.Address != assignee || a.Name != "" {
				return Ticket{}, fmt.Errorf("ticket: %w assignee %q (want an email address, or empty to unassign)", ErrInvalid, *ch.Assignee)
			}
			if err := s.checkAgent(ctx, tenant, assignee); err != nil {
				return Ticket{}, err
			}
		}
	}
	var tags []string
	if ch.Tags != nil {
		var err error
		if tags, err = NormTags(*ch.Tags); err != nil {
			return Ticket{}, fmt.Errorf("ticket: %w", err)
		}
	}
	if err := checkCustomFields(ch.CustomFields, true); err != nil {
		return Ticket{}, fmt.Errorf("ticket: %w", err)
	}
	var out Ticket
	err := s.opts.Store.WithTx(ctx, func(tx Tx) error {
		t, err := tx.Ticket(ctx, tenant, id)
		if err != nil {
			return fmt.Errorf("load ticket %d: %w", id, err)
		}
		now := s.now()
		changes := map[string]FieldChange{}
		if len(ch.CustomFields) > 0 {
			if t.CustomFields, err = applyCustomFields(t.CustomFields, ch.CustomFields, changes); err != nil {
				return err
			}
		}
		if ch.Status != nil && *ch.Status != t.Status {
			changes["status"] = FieldChange{string(t.Status), string(*ch.Status)}
			wasClosed := t.Status == StatusSolved || t.Status == StatusClosed
			t.Status = *ch.Status
			switch closed := t.Status == StatusSolved || t.Status == StatusClosed; {
			case closed && (!wasClosed || t.ClosedAt.IsZero()):
				t.ClosedAt = now
			case !closed:
				t.ClosedAt = time.Time{}
			}
		}
		if ch.Priority != nil && *ch.Priority != t.Priority {
			changes["priority"] = FieldChange{string(t.Priority), string(*ch.Priority)}
			t.Priority = *ch.Priority
		}
		if ch.Assignee != nil && assignee != t.Assignee {
			changes["assignee"] = FieldChange{t.Assignee, assignee}
			t.Assignee = assignee
		}
		if ch.Tags != nil && strings.Join(tags, ",") != strings.Join(t.Tags, ",") {
			changes["tags"] = FieldChange{strings.Join(t.Tags, ","), strings.Join(tags, ",")}
			t.Tags = tags
		}
		out = t
		if len(changes) == 0 {
			return nil
		}
		t.UpdatedAt = now
		if err := tx.UpdateTicket(ctx, t); err != nil {
			return fmt.Errorf("update ticket %d: %w", id, err)
		}
		out = t
		return appendEvent(ctx, tx, tenant, EventTicketUpdated, t.ID, 0, EventPayload{
			TicketNumber: t.Number, Reason: "agent", Actor: ch.Actor, Changes: changes,
		}, now)
	})
	if err != nil {
		return Ticket{}, fmt.Errorf("ticket: update: %w", err)
	}
	return out, nil
}

// checkAgent refuses an assignee who is not an agent of tenant (when the
// service knows its agents: Options.IsAgent).
func (s *Service) checkAgent(ctx context.Context, tenant, email string) error {
	if s.opts.IsAgent == nil || email == "" {
		return nil
	}
	ok, err := s.opts.IsAgent(ctx, tenant, email)
	if err != nil {
		return fmt.Errorf("ticket: look up assignee: %w", err)
	}
	if !ok {
		return fmt.Errorf("ticket: %w assignee %q: not an agent of this tenant (see sidedesk user list)", ErrInvalid, email)
	}
	return nil
}

// MaxTags and MaxTagLen bound a ticket's tags.
const (
	MaxTags   = 20
	MaxTagLen = 40
)

// NormTags checks and normalises an agent's tags: trimmed, lower case,
// sorted, duplicates dropped. A tag is 1 to MaxTagLen letters, digits and
// "-", "_", ".", ":" or "/"; anything else (a space, a comma, a quote) is
// refused with an error that wraps ErrInvalid and names the tag.
func NormTags(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, raw := range in {
		t := strings.ToLower(strings.TrimSpace(raw))
		if t == "" {
			continue
		}
		if n := len([]rune(t)); n > MaxTagLen {
			return nil, fmt.Errorf("%w tag %q: %d characters, at most %d", ErrInvalid, raw, n, MaxTagLen)
		}
		for _, r := range t {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("-_.:/", r) {
				return nil, fmt.Errorf("%w tag %q: %q is not allowed (use letters, digits and - _ . : /)", ErrInvalid, raw, r)
			}
		}
		out = append(out, t)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxTags {
		return nil, fmt.Errorf("%w tags: %d, at most %d", ErrInvalid, len(out), MaxTags)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
