package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/sidedesk/sidedesk/ticket"
)

// The panel's read side: the look-ups behind one sidebar panel,
// on *Store and, with prepared statements, on PanelReads.

const (
	messageByRFCIDQuery = `SELECT ` + messageColumns + ` FROM messages WHERE tenant_id = ? AND message_id = ?
        ORDER BY ticket_id IS NULL, id DESC LIMIT 1`
	ticketByIDQuery     = `SELECT ` + ticketColumns + ` FROM tickets WHERE tenant_id = ? AND id = ?`
	ticketByNumberQuery = `SELECT ` + ticketColumns + ` FROM tickets WHERE tenant_id = ? AND number = ?`
	// Index messages_by_ticket gives (tenant_id, ticket_id, id) order.
	recentMessagesQuery = `SELECT ` + messageColumns + ` FROM messages
        WHERE tenant_id = ? AND ticket_id = ? AND id < ? ORDER BY id DESC LIMIT ?`
	// Index tickets_by_requester.
	ticketsByRequesterQuery = `SELECT ` + ticketColumns + ` FROM tickets
        WHERE tenant_id = ? AND requester_email = ? ORDER BY updated_at DESC, id DESC LIMIT ?`
)

// MessageByMessageID finds the tenant's message with this RFC 5322
// Message-ID (RFC 5322 section 3.6.4; angle brackets and surrounding space
// are ignored), for the panel opened beside an email. When several stored
// messages carry the id (the same mail in two mailboxes, or a broken
// mailer reusing ids), a ticketed one wins over a held one, then the most
// recently stored. ticket.ErrNotFound when none.
func (s *Store) MessageByMessageID(ctx context.Context, tenant, rfcID string) (ticket.Message, error) {
	return messageByRFCID(ctx, s.r, tenant, rfcID)
}

func messageByRFCID(ctx context.Context, q querier, tenant, rfcID string) (ticket.Message, error) {
	id := strings.Trim(strings.TrimSpace(rfcID), "<>")
	if id == "" {
		return ticket.Message{}, fmt.Errorf("store: message <>: %w", ticket.ErrNotFound)
	}
	return oneMessage(ctx, q, "<"+id+">", messageByRFCIDQuery, tenant, id)
}

// MessagesWithMessageID lists every stored message of the tenant with this
// Message-ID, in storage order, without attachments: the same mail
// captured from two mailboxes is one message, two different mails that
// reuse an id are two. An empty slice when there is none.
func (s *Store) MessagesWithMessageID(ctx context.Context, tenant, rfcID string) ([]ticket.Message, error) {
	id := strings.Trim(strings.TrimSpace(rfcID), "<>")
	rows, err := s.r.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages
        WHERE tenant_id = ? AND message_id = ? ORDER BY id`, tenant, id)
	if err != nil {
		return nil, fmt.Errorf("store: messages <%s>: %w", id, err)
	}
	defer rows.Close()
	out := []ticket.Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: messages <%s>: %w", id, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: messages <%s>: %w", id, err)
	}
	return out, nil
}

// RecentMessages returns the last n messages of one of the tenant's
// tickets (by storage order), oldest first, without their attachments:
// what the panel shows of a ticket. An empty slice for a ticket without
// messages or of another tenant.
func (s *Store) RecentMessages(ctx context.Context, tenant string, ticketID int64, n int) ([]ticket.Message, error) {
	return recentMessages(ctx, s.r, tenant, ticketID, math.MaxInt64, n)
}

func recentMessages(ctx context.Context, q querier, tenant string, ticketID, before int64, n int) ([]ticket.Message, error) {
	rows, err := q.QueryContext(ctx, recentMessagesQuery, tenant, ticketID, before, n)
	if err != nil {
		return nil, fmt.Errorf("store: recent messages: %w", err)
	}
	defer rows.Close()
	var out []ticket.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: recent messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: recent messages: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if err := attachDeliveries(ctx, q, tenant, out); err != nil {
		return nil, err
	}
	return out, nil
}

// TicketsByRequester returns at most limit of the tenant's tickets whose
// requester is email (normalised here), most recently updated first.
func (s *Store) TicketsByRequester(ctx context.Context, tenant, email string, limit int) ([]ticket.Ticket, error) {
	return ticketsByRequester(ctx, s.r, tenant, email, limit)
}

func ticketsByRequester(ctx context.Context, q querier, tenant, email string, limit int) ([]ticket.Ticket, error) {
	rows, err := q.QueryContext(ctx, ticketsByRequesterQuery, tenant, ticket.NormEmail(email), limit)
	if err != nil {
		return nil, fmt.Errorf("store: tickets by requester: %w", err)
	}
	defer rows.Close()
	var out []ticket.Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("store: tickets by requester: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tickets by requester: %w", err)
	}
	return out, nil
}

// PanelReads is the Store with the panel's hot reads (one sidebar panel:
// session, user, message by Message-ID, ticket, its recent messages, the
// sender's tickets) on prepared statements: parsing SQL each time was
// about 40% of a panel's CPU. It has every method of Store; make one per
// process with NewPanelReads and Close it before the Store.
type PanelReads struct {
	*Store
	q *preparedQuerier
}

// NewPanelReads wraps s; statements are prepared on first use.
func (s *Store) NewPanelReads() *PanelReads {
	return &PanelReads{Store: s, q: &preparedQuerier{db: s.r, stmts: map[string]*sql.Stmt{}}}
}

// Close releases the prepared statements (not the Store).
func (p *PanelReads) Close() error { return p.q.close() }

// MessageByMessageID is Store.MessageByMessageID, prepared.
func (p *PanelReads) MessageByMessageID(ctx context.Context, tenant, rfcID string) (ticket.Message, error) {
	return messageByRFCID(ctx, p.q, tenant, rfcID)
}

// Ticket is Store.Ticket, prepared.
func (p *PanelReads) Ticket(ctx context.Context, tenant string, id int64) (ticket.Ticket, error) {
	return oneTicket(ctx, p.q, fmt.Sprintf("id %d", id), ticketByIDQuery, tenant, id)
}

// TicketByNumber is Store.TicketByNumber, prepared.
func (p *PanelReads) TicketByNumber(ctx context.Context, tenant string, number int64) (ticket.Ticket, error) {
	return oneTicket(ctx, p.q, fmt.Sprintf("number %d", number), ticketByNumberQuery, tenant, number)
}

// RecentMessages is Store.RecentMessages, prepared.
func (p *PanelReads) RecentMessages(ctx context.Context, tenant string, ticketID int64, n int) ([]ticket.Message, error) {
	return recentMessages(ctx, p.q, tenant, ticketID, math.MaxInt64, n)
}

// MessagesBefore is RecentMessages of the messages stored before the one
// with id before: the thread's earlier page (prepared).
func (p *PanelReads) MessagesBefore(ctx context.Context, tenant string, ticketID, before int64, n int) ([]ticket.Message, error) {
	return recentMessages(ctx, p.q, tenant, ticketID, before, n)
}

// TicketsByRequester is Store.TicketsByRequester, prepared.
func (p *PanelReads) TicketsByRequester(ctx context.Context, tenant, email string, limit int) ([]ticket.Ticket, error) {
	return ticketsByRequester(ctx, p.q, tenant, email, limit)
}

// SessionByHash is Store.SessionByHash, prepared.
func (p *PanelReads) SessionByHash(ctx context.Context, idHash string) (ticket.Session, error) {
	return sessionByHash(ctx, p.q, p.nowUTC(), idHash)
}

// UserByID is Store.UserByID, prepared.
func (p *PanelReads) UserByID(ctx context.Context, tenant string, id int64) (ticket.User, error) {
	return userByID(ctx, p.q, tenant, id)
}

// preparedQuerier runs queries on prepared statements, preparing each
// distinct query text once (the texts are the constants above, so the map
// stays small). database/sql re-prepares a statement per connection as
// needed.
type preparedQuerier struct {
	db    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func (p *preparedQuerier) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	p.mu.RLock()
	st := p.stmts[query]
	p.mu.RUnlock()
	if st != nil {
		return st, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.stmts[query]; st != nil {
		return st, nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.stmts[query] = st
	return st, nil
}

func (p *preparedQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.db.ExecContext(ctx, query, args...)
}

func (p *preparedQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (p *preparedQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		// A *sql.Row carrying the error: run the query unprepared.
		return p.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (p *preparedQuerier) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first error
	for k, st := range p.stmts {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(p.stmts, k)
	}
	return first
}
