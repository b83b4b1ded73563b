package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/sidedesk/sidedesk/ticket"
)

// SearchTickets finds the tenant's tickets for q: a ticket number ("123"
// or "#123"), else the words of q in any message's subject, text or sender
// (every word must match; "invo*" is a prefix), the latest messages first. With
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
	terms := ftsTerms(q)
	if len(terms) == 0 {
		return nil, fmt.Errorf("store: search: %w q: no words to search for", ticket.ErrInvalid)
	}
	match, none, err := s.expandPrefixes(ctx, terms)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	if none {
		return []ticket.Ticket{}, nil
	}
	// The latest 250 matching messages (FTS5 walks its index backwards,
	// only when asked at the top level), their tickets, then those tickets
	// by id: driving from the hits, never from the tenant's rows.
	msgIDs, err := s.queryIDs(ctx, `SELECT rowid FROM message_search WHERE message_search MATCH ?
        ORDER BY rowid DESC LIMIT 250`, match)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	var ids []string
	seen := map[string]bool{}
	for len(msgIDs) > 0 {
		n := min(len(msgIDs), idChunk)
		chunk, err := s.queryIDs(ctx, `SELECT ticket_id FROM messages WHERE id IN (`+placeholders(n)+`)
            AND +tenant_id = ? AND ticket_id IS NOT NULL`, append(anys(msgIDs[:n]), tenant)...)
		if err != nil {
			return nil, fmt.Errorf("store: search: %w", err)
		}
		msgIDs = msgIDs[n:]
		for _, id := range chunk {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	out := []ticket.Ticket{}
	for len(ids) > 0 {
		n := min(len(ids), idChunk)
		args := append(anys(ids[:n]), tenant)
		ids = ids[n:]
		// By primary key ("+tenant_id" keeps the planner off the tenant's
		// index, which would scan all of its tickets), still scoped.
		rows, err := s.r.QueryContext(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE id IN (`+placeholders(n)+`) AND +tenant_id = ?`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: search: %w", err)
		}
		for rows.Next() {
			t, err := scanTicket(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: search: %w", err)
			}
			if status == "" || t.Status == status {
				out = append(out, t)
			}
		}
		if err := errors.Join(rows.Close(), rows.Err()); err != nil {
			return nil, fmt.Errorf("store: search: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b ticket.Ticket) int {
		if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out[:min(len(out), limit)], nil
}

// queryIDs runs a query of one integer column and returns its values as
// text (for the next IN list): SQLite hands an integer to a string scan as
// its decimal text.
func (s *Store) queryIDs(ctx context.Context, query string, args ...any) ([]string, error) {
	return s.queryStrings(ctx, query, args...)
}

// ftsTerm is one word of a search: the index's form (what its tokenizer
// keeps: letters and digits) and whether it is a prefix.
type ftsTerm struct {
	word   string
	prefix bool
}

// ftsTerms splits free text into at most 16 words, all required; a word
// written with a trailing "*" is a prefix.
func ftsTerms(q string) []ftsTerm {
	var terms []ftsTerm
	for _, field := range strings.Fields(q) {
		prefix := strings.HasSuffix(field, "*")
		n := len(terms)
		for _, w := range strings.FieldsFunc(field, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			terms = append(terms, ftsTerm{word: w})
		}
		if prefix && len(terms) > n {
			terms[len(terms)-1].prefix = true
		}
		if len(terms) >= 16 {
			return terms[:16]
		}
	}
	return terms
}

func quoteTerm(t ftsTerm) string {
	q := `"` + t.word + `"`
	if t.prefix {
		q += "*"
	}
	return q
}

// maxPrefixTerms bounds how many words a prefix is expanded to.
const maxPrefixTerms = 32

// expandPrefixes builds the MATCH expression, a prefix written as the
// words of the index it stands for (when there are at most
// maxPrefixTerms; more stay a prefix scan). none reports a prefix no word
// has: nothing can match.
func (s *Store) expandPrefixes(ctx context.Context, terms []ftsTerm) (match string, none bool, err error) {
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		low := strings.ToLower(t.word)
		if !t.prefix || !isASCII(low) {
			// The tokenizer folds diacritics; only ASCII prefixes are
			// compared with its terms as they are.
			parts = append(parts, quoteTerm(t))
			continue
		}
		words, err := s.queryStrings(ctx, `SELECT term FROM search_terms WHERE term >= ? AND term < ? LIMIT ?`,
			low, low+"\U0010FFFF", maxPrefixTerms+1)
		if err != nil {
			return "", false, err
		}
		switch {
		case len(words) == 0:
			return "", true, nil
		case len(words) > maxPrefixTerms:
			parts = append(parts, quoteTerm(t))
		default:
			for i, w := range words {
				words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
			}
			parts = append(parts, "("+strings.Join(words, " OR ")+")")
		}
	}
	return strings.Join(parts, " AND "), false, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// queryStrings runs a query of one text column.
func (s *Store) queryStrings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
