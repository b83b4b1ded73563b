package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/sidedesk/sidedesk/ticket"
)

// SearchTickets finds the tenant's tickets for q: a ticket number ("123"
// or "#123"), else the words of q in any message's subject, text or sender
// (every word must match; the last may be a prefix), best match first. With
// status set, only tickets in it. At most limit (1-100).
func (s *Store) SearchTickets(ctx context.Context, tenant, q string, status ticket.Status, limit int) ([]ticket.Ticket, error) {
	limit = min(max(limit, 1), 100)
	q = strings.TrimSpace(q)
	if n, err := strconv.ParseInt(strings.TrimPrefix(q, "#"), 10, 64); err == nil && n > 0 {
		t, err := oneTicket(ctx, s.r, fmt.Sprintf("number %d", n), ticketByNumberQuery, tenant, n)
		if err != nil || (status != "" && t.Status != status) {
			return []ticket.Ticket{}, nil
		}
		return []ticket.Ticket{t}, nil
	}
	match := ftsQuery(q)
	if match == "" {
		return nil, fmt.Errorf("store: search: %w q: no words to search for", ticket.ErrInvalid)
	}
	query := `SELECT ` + ticketColumns + ` FROM tickets WHERE tenant_id = ? AND id IN (
            SELECT m.ticket_id FROM message_search ms JOIN messages m ON m.id = ms.rowid
            WHERE message_search MATCH ? AND m.tenant_id = ? AND m.ticket_id IS NOT NULL
            ORDER BY ms.rank LIMIT 1000)`
	args := []any{tenant, match, tenant}
	if status != "" {
		query += ` AND status = ?`
		args = append(args, string(status))
	}
	rows, err := s.r.QueryContext(ctx, query+` ORDER BY updated_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	defer rows.Close()
	out := []ticket.Ticket{}
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("store: search: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ftsQuery makes an FTS5 query of free text: each word quoted (so no
// word is FTS5 syntax), all required, the last one a prefix. Words are
// what the index's tokenizer keeps: letters and digits.
func ftsQuery(q string) string {
	words := strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > 16 {
		words = words[:16]
	}
	for i, w := range words {
		words[i] = `"` + w + `"`
	}
	if len(words) == 0 {
		return ""
	}
	words[len(words)-1] += "*"
	return strings.Join(words, " ")
}
