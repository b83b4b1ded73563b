package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/sidedesk/sidedesk/ticket"
)

// MessageByMessageID finds the tenant's message with this RFC 5322
// Message-ID (RFC 5322 section 3.6.4; angle brackets and surrounding space
// are ignored), for the panel opened beside an email. When several stored
// messages carry the id (the same mail in two mailboxes, or a broken
// mailer reusing ids), a ticketed one wins over a held one, then the most
// recently stored. ticket.ErrNotFound when none.
func (s *Store) MessageByMessageID(ctx context.Context, tenant, rfcID string) (ticket.Message, error) {
	id := strings.Trim(strings.TrimSpace(rfcID), "<>")
	if id == "" {
		return ticket.Message{}, fmt.Errorf("store: message <>: %w", ticket.ErrNotFound)
	}
	// ORDER BY over the few rows of one Message-ID (index
	// messages_by_message_id); ticket_id IS NULL sorts held ones last.
	return oneMessage(ctx, s.r, "<"+id+">",
		`SELECT `+messageColumns+` FROM messages WHERE tenant_id = ? AND message_id = ?
        ORDER BY ticket_id IS NULL, id DESC LIMIT 1`, tenant, id)
}
