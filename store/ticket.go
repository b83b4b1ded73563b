package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

const ticketColumns = `id, tenant_id, number, subject, status, priority, requester_name,
    requester_email, mailbox, assignee, conversation_id, linked_ticket_id, created_at,
    updated_at, closed_at, tags, merged_into, custom_fields`

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanTicket(sc scanner) (ticket.Ticket, error) {
	var (
		t                          ticket.Ticket
		status, priority           string
		linked, merged             sql.NullInt64
		created, updated, closedAt sql.NullString
		tags, fields               string
	)
	err := sc.Scan(&t.ID, &t.Tenant, &t.Number, &t.Subject, &status, &priority,
		&t.Requester.Name, &t.Requester.Email, &t.Mailbox, &t.Assignee, &t.ConversationID,
		&linked, &created, &updated, &closedAt, &tags, &merged, &fields)
	if err != nil {
		return ticket.Ticket{}, err
	}
	t.MergedInto = merged.Int64
	if fields != "" && fields != "{}" {
		if err := json.Unmarshal([]byte(fields), &t.CustomFields); err != nil {
			return ticket.Ticket{}, fmt.Errorf("custom fields: %w", err)
		}
	}
	if t.Tags, err = decodeList[string](tags); err != nil {
		return ticket.Ticket{}, fmt.Errorf("tags: %w", err)
	}
	t.Status, t.Priority, t.LinkedTicketID = ticket.Status(status), ticket.Priority(priority), linked.Int64
	if t.CreatedAt, err = parseTime(created); err != nil {
		return ticket.Ticket{}, err
	}
	if t.UpdatedAt, err = parseTime(updated); err != nil {
		return ticket.Ticket{}, err
	}
	if t.ClosedAt, err = parseTime(closedAt); err != nil {
		return ticket.Ticket{}, err
	}
	return t, nil
}

// oneTicket runs a query selecting ticketColumns that names at most one row.
func oneTicket(ctx context.Context, q querier, what, query string, args ...any) (ticket.Ticket, error) {
	t, err := scanTicket(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.Ticket{}, fmt.Errorf("store: ticket %s: %w", what, ticket.ErrNotFound)
	}
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("store: ticket %s: %w", what, err)
	}
	return t, nil
}

func getTicket(ctx context.Context, q querier, tenant string, id int64) (ticket.Ticket, error) {
	return oneTicket(ctx, q, fmt.Sprintf("id %d", id),
		`SELECT `+ticketColumns+` FROM tickets WHERE tenant_id = ? AND id = ?`, tenant, id)
}

func ticketExists(ctx context.Context, q querier, tenant string, id int64) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM tickets WHERE tenant_id = ? AND id = ?`, tenant, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: ticket id %d: %w", id, ticket.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: ticket id %d: %w", id, err)
	}
	return nil
}

// requiredTime is a NOT NULL time: the zero time means now.
func requiredTime(t, now time.Time, what string) (string, error) {
	if t.IsZero() {
		t = now
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return "", fmt.Errorf("store: %s %v is out of range", what, t)
	}
	return fmtTime(t), nil
}

func checkTicketFields(t *ticket.Ticket) error {
	if t.Tenant == "" {
		return errors.New("store: ticket has no tenant")
	}
	if t.Status == "" {
		t.Status = ticket.StatusNew
	}
	if !t.Status.Valid() {
		return fmt.Errorf("store: ticket status %q is not valid", t.Status)
	}
	if t.Priority == "" {
		t.Priority = ticket.PriorityNormal
	}
	if !t.Priority.Valid() {
		return fmt.Errorf("store: ticket priority %q is not valid", t.Priority)
	}
	return nil
}

// encodeFields is a ticket's custom fields as stored: a JSON object.
func encodeFields(f map[string]any) (string, error) {
	if len(f) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("store: custom fields: %w", err)
	}
	return string(b), nil
}

// MergeTicket implements ticket.Tx.
func (t *tx) MergeTicket(ctx context.Context, tenant string, from, into int64) error {
	if err := t.flushRequesters(ctx); err != nil { // the participants are copied below
		return err
	}
	if err := ticketExists(ctx, t.q, tenant, into); err != nil {
		return fmt.Errorf("store: merge ticket %d: %w", from, err)
	}
	for _, stmt := range []string{
		`UPDATE messages SET ticket_id = ?2 WHERE tenant_id = ?1 AND ticket_id = ?3`,
		`INSERT OR IGNORE INTO participants (tenant_id, ticket_id, email)
            SELECT tenant_id, ?2, email FROM participants WHERE tenant_id = ?1 AND ticket_id = ?3`,
		`UPDATE crm_links SET ticket_id = ?2 WHERE tenant_id = ?1 AND ticket_id = ?3`,
		`UPDATE crm_saved_emails SET ticket_id = ?2 WHERE tenant_id = ?1 AND ticket_id = ?3`,
		`UPDATE crm_cases SET ticket_id = ?2 WHERE tenant_id = ?1 AND ticket_id = ?3`,
		`UPDATE deliveries SET ticket_id = ?2 WHERE tenant_id = ?1 AND ticket_id = ?3`,
		`UPDATE tickets SET merged_into = ?2 WHERE tenant_id = ?1 AND id = ?3`,
	} {
		if _, err := t.q.ExecContext(ctx, stmt, tenant, into, from); err != nil {
			return fmt.Errorf("store: merge ticket %d into %d: %w", from, into, err)
		}
	}
	return nil
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// createTicket inserts t with the tenant's next ticket number and adds the
// requester as a participant. Empty Status/Priority become new/normal and
// zero CreatedAt/UpdatedAt become now; t is updated to what was stored.
// numbers holds the last number handed out per tenant in this
// transaction, so only the first ticket of a batch reads (and moves) the
// counter row; for the next ones it only marks the tenant in dirty, and
// the row is written once when the transaction's work is done
// (tx.flushCounters).
func createTicket(ctx context.Context, q querier, now time.Time, t *ticket.Ticket, numbers map[string]int64, dirty map[string]bool) error {
	if err := checkTicketFields(t); err != nil {
		return err
	}
	t.Requester.Email = ticket.NormEmail(t.Requester.Email)
	created, err := requiredTime(t.CreatedAt, now, "created_at")
	if err != nil {
		return err
	}
	updated, err := requiredTime(t.UpdatedAt, now, "updated_at")
	if err != nil {
		return err
	}
	if t.LinkedTicketID != 0 {
		if err := ticketExists(ctx, q, t.Tenant, t.LinkedTicketID); err != nil {
			return fmt.Errorf("store: create ticket: linked %w", err)
		}
	}
	number, known := numbers[t.Tenant]
	if known {
		number++
		dirty[t.Tenant] = true
	} else {
		_, err = q.ExecContext(ctx, `INSERT INTO ticket_counters (tenant_id, last_number) VALUES (?, 1)
        ON CONFLICT (tenant_id) DO UPDATE SET last_number = ticket_counters.last_number + 1`, t.Tenant)
		if err == nil {
			err = q.QueryRowContext(ctx, `SELECT last_number FROM ticket_counters WHERE tenant_id = ?`, t.Tenant).Scan(&number)
		}
	}
	if err != nil {
		return fmt.Errorf("store: create ticket: next number: %w", err)
	}
	numbers[t.Tenant] = number // as the counter row now says
	tags, err := encodeList(t.Tags)
	if err != nil {
		return err
	}
	fields, err := encodeFields(t.CustomFields)
	if err != nil {
		return err
	}
	id, err := insertID(ctx, q, `INSERT INTO tickets (tenant_id, number, subject, status, priority,
        requester_name, requester_email, mailbox, assignee, conversation_id, linked_ticket_id,
        created_at, updated_at, closed_at, tags, custom_fields)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Tenant, number, t.Subject, string(t.Status), string(t.Priority), t.Requester.Name,
		t.Requester.Email, t.Mailbox, t.Assignee, t.ConversationID, nullID(t.LinkedTicketID),
		created, updated, nullTime(t.ClosedAt), tags, fields)
	if err != nil {
		return fmt.Errorf("store: create ticket: %w", err)
	}
	t.ID, t.Number = id, number
	t.CreatedAt, _ = parseTime(sql.NullString{String: created, Valid: true})
	t.UpdatedAt, _ = parseTime(sql.NullString{String: updated, Valid: true})
	t.ClosedAt, _ = parseTime(nullTime(t.ClosedAt))
	// The requester's participant row is tx.CreateTicket's to write.
	return nil
}

func updateTicket(ctx context.Context, q querier, now time.Time, t ticket.Ticket) error {
	if err := checkTicketFields(&t); err != nil {
		return err
	}
	updated, err := requiredTime(t.UpdatedAt, now, "updated_at")
	if err != nil {
		return err
	}
	tags, err := encodeList(t.Tags)
	if err != nil {
		return err
	}
	fields, err := encodeFields(t.CustomFields)
	if err != nil {
		return err
	}
	res, err := q.ExecContext(ctx, `UPDATE tickets SET status = ?, priority = ?, assignee = ?,
        subject = ?, updated_at = ?, closed_at = ?, tags = ?, custom_fields = ? WHERE tenant_id = ? AND id = ?`,
		string(t.Status), string(t.Priority), t.Assignee, t.Subject, updated, nullTime(t.ClosedAt), tags, fields,
		t.Tenant, t.ID)
	if err != nil {
		return fmt.Errorf("store: update ticket %d: %w", t.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: update ticket %d: %w", t.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: update ticket %d: %w", t.ID, ticket.ErrNotFound)
	}
	return nil
}

// addParticipants records emails (normalised, empties skipped) on a ticket.
func addParticipants(ctx context.Context, q querier, tenant string, ticketID int64, emails []string) error {
	seen := map[string]bool{}
	var list []string
	for _, e := range emails {
		e = ticket.NormEmail(e)
		if e == "" || seen[e] {
			continue
		}
		seen[e] = true
		list = append(list, e)
	}
	// One INSERT for a message's addresses (a statement per address was
	// a good part of a capture transaction's statements).
	err := insertRows(ctx, q, `INSERT INTO participants (tenant_id, ticket_id, email)`, `ON CONFLICT DO NOTHING`,
		3, len(list), participantChunk, func(args []any, i int) []any {
			return append(args, tenant, ticketID, list[i])
		})
	if err != nil {
		return fmt.Errorf("store: add participants to ticket %d: %w", ticketID, err)
	}
	return nil
}

// insertRows inserts n rows of cols columns with multi-row INSERTs of at
// most chunk rows: head VALUES (?, …), (?, …) tail. row appends the values
// of row i to args.
func insertRows(ctx context.Context, q querier, head, tail string, cols, n, chunk int, row func(args []any, i int) []any) error {
	tuple := "(?" + strings.Repeat(", ?", cols-1) + ")"
	for done := 0; done < n; {
		k := min(n-done, chunk)
		var sb strings.Builder
		sb.WriteString(head + " VALUES ")
		args := make([]any, 0, cols*k)
		for i := range k {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(tuple)
			args = row(args, done+i)
		}
		sb.WriteString(" " + tail)
		if _, err := q.ExecContext(ctx, sb.String(), args...); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// participantChunk is how many participants one INSERT carries.
const participantChunk = 50

func isParticipant(ctx context.Context, q querier, tenant string, ticketID int64, email string) (bool, error) {
	email = ticket.NormEmail(email)
	if email == "" {
		return false, nil
	}
	var n int
	err := q.QueryRowContext(ctx, `SELECT
        (SELECT COUNT(*) FROM participants WHERE tenant_id = ? AND ticket_id = ? AND email = ?) +
        (SELECT COUNT(*) FROM tickets WHERE tenant_id = ? AND id = ? AND requester_email = ?)`,
		tenant, ticketID, email, tenant, ticketID, email).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: is participant: %w", err)
	}
	return n > 0, nil
}
