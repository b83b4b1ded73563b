package store

import (
	"context"
	"strings"
	"testing"
)

// TestQueryPlansUseIndexes guards the look-ups on the capture path and the
// read side against full scans (SQLite picks plans without statistics; one
// innocent-looking condition once made it scan every message per insert).
func TestQueryPlansUseIndexes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, query, index string
	}{
		{"TicketIDsByMessageIDs", `SELECT id, ticket_id FROM messages WHERE tenant_id = ? AND message_id IN (?, ?)`, "messages_by_message_id"},
		{"Prefetch references", `SELECT DISTINCT ref FROM message_refs WHERE tenant_id = ? AND ref IN (?, ?)`, "PRIMARY KEY"},
		{"MessageByBody stored", `SELECT 1 FROM messages WHERE tenant_id = ? AND message_id = ? LIMIT 1`, "messages_by_message_id"},
		{"MessageByBody unhashed", `SELECT id, raw_sha256 FROM messages WHERE tenant_id = ? AND message_id = ? AND body_hash = '' AND raw_sha256 <> ''`, "messages_by_message_id"},
		{"MessageByBody", `SELECT id FROM messages WHERE tenant_id = ? AND message_id = ? AND body_hash = ? ORDER BY id LIMIT 1`, "messages_by_message_id"},
		{"CountFromSender", `SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE tenant_id = ? AND from_email = ? AND date >= ? AND date <= ? AND direction = ? LIMIT ?)`, "messages_by_sender"},
		{"SourceMessage", `SELECT message_id FROM message_sources WHERE tenant_id = ? AND mailbox = ? AND source_key = ?`, "autoindex_message_sources"},
		{"TicketByConversation", `SELECT id FROM tickets WHERE tenant_id = ? AND conversation_id = ? ORDER BY updated_at DESC, id DESC LIMIT 1`, "tickets_by_conversation"},
		{"TicketByNumber", `SELECT id FROM tickets WHERE tenant_id = ? AND number = ?`, "autoindex_tickets"},
		{"OpenTicketsByRequester", `SELECT id FROM tickets WHERE tenant_id = ? AND requester_email = ? AND status IN (?, ?, ?) ORDER BY updated_at DESC, id DESC LIMIT ?`, "tickets_by_requester"},
		{"ListTickets page", `SELECT id FROM tickets WHERE tenant_id = ? AND (updated_at, id) < (?, ?) ORDER BY updated_at DESC, id DESC LIMIT ?`, "tickets_by_updated"},
		{"ListTickets status", `SELECT id FROM tickets WHERE tenant_id = ? AND status = ? ORDER BY updated_at DESC, id DESC LIMIT ?`, "tickets_by_status"},
		{"TicketMessages", `SELECT id FROM messages WHERE tenant_id = ? AND ticket_id = ? ORDER BY COALESCE(date, created_at), id`, "messages_by_ticket"},
		{"IsParticipant", `SELECT COUNT(*) FROM participants WHERE tenant_id = ? AND ticket_id = ? AND email = ?`, "autoindex_participants"},
		{"AnyTieredAccount", `SELECT 1 FROM crm_accounts WHERE tenant_id = ? AND tier != '' LIMIT 1`, "crm_accounts_tiered"},
		{"TokenByHash", `SELECT id FROM api_tokens WHERE token_hash = ?`, "autoindex_api_tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := strings.Count(tc.query, "?")
			args := make([]any, n)
			for i := range args {
				args[i] = "x"
			}
			rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			joined := strings.Join(plan, "; ")
			// A scan of a bounded subquery's own rows (COUNT over LIMIT) is fine.
			tableScan := strings.Contains(strings.ReplaceAll(joined, "SCAN (subquery", ""), "SCAN ")
			if !strings.Contains(joined, tc.index) || tableScan {
				t.Errorf("plan %q; want a search on %s and no scan", joined, tc.index)
			}
		})
	}
}
