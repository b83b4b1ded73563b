package ticket

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// MaxMerge bounds how many tickets one merge takes in.
const MaxMerge = 20

// maxMergeHops bounds how far threading follows merged tickets (a merged
// ticket's target is never merged later without its own chain being
// followed, so this is only a guard).
const maxMergeHops = 8

// Merge merges the tickets sources into ticket into, in one transaction:
// their messages, participants, CRM links and deliveries move to into;
// each source is closed and records MergedInto, so its number and reply
// address still lead to into (threading follows it); into gets the
// sources' tags and the custom fields it lacks, and a note saying what was
// merged. Events: ticket.updated on each source (status closed,
// merged_into) and on into (merged). Errors on bad input wrap ErrInvalid
// and name the ticket.
func (s *Service) Merge(ctx context.Context, tenant string, into int64, sources []int64, actor string) (Ticket, error) {
	if tenant == "" {
		tenant = DefaultTenant
	}
	if len(sources) == 0 {
		return Ticket{}, fmt.Errorf("ticket: merge: %w: name the tickets to merge into ticket %d", ErrInvalid, into)
	}
	if len(sources) > MaxMerge {
		return Ticket{}, fmt.Errorf("ticket: merge: %w: %d tickets, at most %d at once", ErrInvalid, len(sources), MaxMerge)
	}
	seen := map[int64]bool{}
	for _, id := range sources {
		switch {
		case id == into:
			return Ticket{}, fmt.Errorf("ticket: merge: %w: ticket %d cannot be merged into itself", ErrInvalid, id)
		case seen[id]:
			return Ticket{}, fmt.Errorf("ticket: merge: %w: ticket %d is named twice", ErrInvalid, id)
		}
		seen[id] = true
	}
	var out Ticket
	err := s.opts.Store.WithTx(ctx, func(tx Tx) error {
		target, err := tx.Ticket(ctx, tenant, into)
		if err != nil {
			return fmt.Errorf("load ticket %d: %w", into, err)
		}
		if target.MergedInto != 0 {
			return fmt.Errorf("%w: ticket %d was itself merged into ticket %d; merge into that one", ErrInvalid, into, target.MergedInto)
		}
		now := s.now()
		changes := map[string]FieldChange{}
		var numbers []int64
		var lines []string
		tags := slices.Clone(target.Tags)
		fields := maps.Clone(target.CustomFields)
		if fields == nil {
			fields = map[string]any{}
		}
		for _, id := range sources {
			src, err := tx.Ticket(ctx, tenant, id)
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("%w: ticket %d does not exist", ErrInvalid, id)
			}
			if err != nil {
				return fmt.Errorf("load ticket %d: %w", id, err)
			}
			if src.MergedInto != 0 {
				return fmt.Errorf("%w: ticket %d was merged into ticket %d already", ErrInvalid, id, src.MergedInto)
			}
			if err := tx.MergeTicket(ctx, tenant, src.ID, target.ID); err != nil {
				return fmt.Errorf("merge ticket %d: %w", id, err)
			}
			srcChanges := map[string]FieldChange{"merged_into": {"", "#" + strconv.FormatInt(target.Number, 10)}}
			if src.Status != StatusClosed {
				srcChanges["status"] = FieldChange{string(src.Status), string(StatusClosed)}
				if src.ClosedAt.IsZero() || src.Status != StatusSolved {
					src.ClosedAt = now
				}
				src.Status = StatusClosed
			}
			src.MergedInto, src.UpdatedAt = target.ID, now
			if err := tx.UpdateTicket(ctx, src); err != nil {
				return fmt.Errorf("update ticket %d: %w", id, err)
			}
			if err := appendEvent(ctx, tx, tenant, EventTicketUpdated, src.ID, 0, EventPayload{
				TicketNumber: src.Number, Reason: "merged", Actor: actor, Changes: srcChanges, MergedInto: target.Number,
			}, now); err != nil {
				return err
			}
			tags = append(tags, src.Tags...)
			for k, v := range src.CustomFields {
				if _, ok := fields[k]; !ok {
					fields[k] = v
				}
			}
			numbers = append(numbers, src.Number)
			lines = append(lines, fmt.Sprintf("#%d %q from %s", src.Number, src.Subject, src.Requester.Email))
		}
		if tags, err = NormTags(tags); err != nil {
			return err
		}
		if t := strings.Join(tags, ","); t != strings.Join(target.Tags, ",") {
			changes["tags"] = FieldChange{strings.Join(target.Tags, ","), t}
		}
		if len(fields) > MaxCustomFields {
			return fmt.Errorf("%w: the merged tickets have %d custom fields together, at most %d", ErrInvalid, len(fields), MaxCustomFields)
		}
		var merged []string
		for _, n := range numbers {
			merged = append(merged, "#"+strconv.FormatInt(n, 10))
		}
		changes["merged"] = FieldChange{"", strings.Join(merged, ",")}
		target.Tags, target.CustomFields, target.UpdatedAt = tags, fields, now
		note := Message{Tenant: tenant, TicketID: target.ID, Direction: DirectionNote, Classification: ClassNormal,
			From: Address{Email: actor}, Subject: target.Subject, Date: now, CreatedAt: now,
			Text: "Merged into this ticket: " + strings.Join(lines, "; ") + "."}
		if err := tx.InsertMessage(ctx, &note); err != nil {
			return fmt.Errorf("store note: %w", err)
		}
		if err := tx.UpdateTicket(ctx, target); err != nil {
			return fmt.Errorf("update ticket %d: %w", into, err)
		}
		out = target
		return appendEvent(ctx, tx, tenant, EventTicketUpdated, target.ID, note.ID, EventPayload{
			TicketNumber: target.Number, Reason: "merged", Actor: actor, Changes: changes, MergedFrom: numbers,
		}, now)
	})
	if err != nil {
		return Ticket{}, fmt.Errorf("ticket: merge: %w", err)
	}
	return out, nil
}

// followMerges returns the ticket t was (eventually) merged into, or t.
func followMerges(ctx context.Context, tx Tx, t Ticket) (Ticket, error) {
	for hops := 0; t.MergedInto != 0 && hops < maxMergeHops; hops++ {
		next, err := tx.Ticket(ctx, t.Tenant, t.MergedInto)
		if err != nil {
			return Ticket{}, fmt.Errorf("follow merged ticket %d: %w", t.ID, err)
		}
		t = next
	}
	return t, nil
}
