package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sidedesk/sidedesk/ticket"
)

// ListTickets returns one page of the tenant's tickets, most recently
// updated first (updated_at DESC, id DESC), and the cursor of the next page
// ("" on the last page). Pagination is by key, not offset, so tickets
// created between pages neither repeat nor push others off a page.
func (s *Store) ListTickets(ctx context.Context, tenant string, f ticket.TicketFilter) ([]ticket.Ticket, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = ticket.DefaultListLimit
	}
	limit = min(limit, ticket.MaxListLimit)

	where := []string{"tenant_id = ?"}
	args := []any{tenant}
	if f.Status != "" {
		if !f.Status.Valid() {
			return nil, "", fmt.Errorf("%w: status %q", ticket.ErrInvalidFilter, f.Status)
		}
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if f.Mailbox != "" {
		where = append(where, "mailbox = ?")
		args = append(args, f.Mailbox)
	}
	if r := ticket.NormEmail(f.Requester); r != "" {
		where = append(where, "requester_email = ?")
		args = append(args, r)
	}
	if f.Tag != "" {
		where = append(where, "EXISTS (SELECT 1 FROM json_each(tickets.tags) WHERE value = ?)")
		args = append(args, strings.ToLower(strings.TrimSpace(f.Tag)))
	}
	if f.Cursor != "" {
		updated, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		// Row values compare lexicographically (SQLite >= 3.15, PostgreSQL).
		where = append(where, "(updated_at, id) < (?, ?)")
		args = append(args, updated, id)
	}
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE `+
		strings.Join(where, " AND ")+` ORDER BY updated_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list tickets: %w", err)
	}
	defer rows.Close()
	var out []ticket.Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: list tickets: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list tickets: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = encodeCursor(fmtTime(last.UpdatedAt), last.ID)
	}
	return out, next, nil
}

// A cursor is base64url("v1|<updated_at>|<id>") of the last row of a page.
func encodeCursor(updated string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1|" + updated + "|" + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (updated string, id int64, err error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", 0, ticket.ErrInvalidCursor
	}
	parts := strings.Split(string(b), "|")
	if len(parts) != 3 || parts[0] != "v1" {
		return "", 0, ticket.ErrInvalidCursor
	}
	if _, err := parseTime(sql.NullString{String: parts[1], Valid: true}); err != nil || len(parts[1]) != len(timeLayout) {
		return "", 0, ticket.ErrInvalidCursor
	}
	id, err = strconv.ParseInt(parts[2], 10, 64)
	if err != nil || id <= 0 {
		return "", 0, ticket.ErrInvalidCursor
	}
	return parts[1], id, nil
}

// Ticket loads one of the tenant's tickets (ticket.ErrNotFound if it has
// no such ticket, whoever else might).
func (s *Store) Ticket(ctx context.Context, tenant string, id int64) (ticket.Ticket, error) {
	return getTicket(ctx, s.r, tenant, id)
}

// TicketMessages returns the messages of one of the tenant's tickets, with
// their attachments, in date order (messages without a Date at the time
// they were stored), ties in storage order. ticket.ErrNotFound when the
// tenant has no such ticket.
func (s *Store) TicketMessages(ctx context.Context, tenant string, ticketID int64) ([]ticket.Message, error) {
	rtx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: ticket messages: %w", err)
	}
	defer rtx.Rollback() //nolint:errcheck // read-only
	if err := ticketExists(ctx, rtx, tenant, ticketID); err != nil {
		return nil, err
	}
	rows, err := rtx.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages
        WHERE tenant_id = ? AND ticket_id = ? ORDER BY COALESCE(date, created_at), id`, tenant, ticketID)
	if err != nil {
		return nil, fmt.Errorf("store: ticket messages: %w", err)
	}
	var out []ticket.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: ticket messages: %w", err)
		}
		out = append(out, m)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("store: ticket messages: %w", err)
	}
	atts, err := attachmentsOf(ctx, rtx, tenant,
		`message_id IN (SELECT id FROM messages WHERE tenant_id = ? AND ticket_id = ?)`, tenant, ticketID)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Attachments = atts[out[i].ID]
	}
	if err := attachDeliveries(ctx, rtx, tenant, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Message loads one of the tenant's messages with its attachments.
func (s *Store) Message(ctx context.Context, tenant string, id int64) (ticket.Message, error) {
	return getMessage(ctx, s.r, tenant, id)
}

// Attachment loads one of the tenant's attachments.
func (s *Store) Attachment(ctx context.Context, tenant string, id int64) (ticket.Attachment, error) {
	a, _, err := scanAttachment(s.r.QueryRowContext(ctx, `SELECT `+attachmentColumns+`
        FROM attachments WHERE tenant_id = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.Attachment{}, fmt.Errorf("store: attachment %d: %w", id, ticket.ErrNotFound)
	}
	if err != nil {
		return ticket.Attachment{}, fmt.Errorf("store: attachment %d: %w", id, err)
	}
	return a, nil
}

// CapturedSourceKeys tells which of keys the tenant's mailbox captured
// already: the keys of the map are those found. It reads outside any write
// transaction (a Gmail full sync asks it before fetching).
func (s *Store) CapturedSourceKeys(ctx context.Context, tenant, mailbox string, keys []string) (map[string]bool, error) {
	found := map[string]bool{}
	err := inChunks(ctx, s.r, keys, `SELECT source_key FROM message_sources
        WHERE tenant_id = ? AND mailbox = ? AND source_key IN `, []any{tenant, mailbox},
		func(key string) { found[key] = true })
	if err != nil {
		return nil, fmt.Errorf("store: captured source keys of %s: %w", mailbox, err)
	}
	return found, nil
}

// CountMessages counts the tenant's stored messages, held ones included.
func (s *Store) CountMessages(ctx context.Context, tenant string) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages WHERE tenant_id = ?`, tenant).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count messages: %w", err)
	}
	return n, nil
}

// TicketMessagesPage returns up to limit (1-200) of a ticket's messages
// with an id above afterID, in id order (the order they were stored), with
// their attachments and deliveries: the paged thread of the API.
func (s *Store) TicketMessagesPage(ctx context.Context, tenant string, ticketID, afterID int64, limit int) ([]ticket.Message, error) {
	limit = min(max(limit, 1), 200)
	if err := ticketExists(ctx, s.r, tenant, ticketID); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages
        WHERE tenant_id = ? AND ticket_id = ? AND id > ? ORDER BY id LIMIT ?`, tenant, ticketID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: ticket messages: %w", err)
	}
	var out []ticket.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: ticket messages: %w", err)
		}
		out = append(out, m)
	}
	err = errors.Join(rows.Err(), rows.Close())
	if err != nil || len(out) == 0 {
		return out, err
	}
	atts, err := attachmentsOf(ctx, s.r, tenant, `message_id BETWEEN ? AND ?`, out[0].ID, out[len(out)-1].ID)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Attachments = atts[out[i].ID]
	}
	return out, attachDeliveries(ctx, s.r, tenant, out)
}
