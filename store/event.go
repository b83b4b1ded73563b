package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

func appendEvent(ctx context.Context, q querier, now time.Time, e *ticket.Event) error {
	if e.Tenant == "" || e.Type == "" {
		return errors.New("store: event needs a tenant and a type")
	}
	created, err := requiredTime(e.CreatedAt, now, "created_at")
	if err != nil {
		return err
	}
	var payload sql.NullString
	if len(e.Payload) > 0 {
		payload = sql.NullString{String: string(e.Payload), Valid: true}
	}
	e.ID, err = insertID(ctx, q, `INSERT INTO events (tenant_id, type, ticket_id, message_id,
        payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		e.Tenant, e.Type, e.TicketID, e.MessageID, payload, created)
	if err != nil {
		return fmt.Errorf("store: append event: %w", err)
	}
	e.CreatedAt, _ = parseTime(sql.NullString{String: created, Valid: true})
	return nil
}

// PendingEvents returns outbox events of every tenant with id > afterID, in
// id order, at most limit (default 100, max 1000). A dispatcher keeps the id
// of the last event it delivered and passes it back. With SQLite's single
// writer, ids become visible in commit order, so no event is skipped.
func (s *Store) PendingEvents(ctx context.Context, afterID int64, limit int) ([]ticket.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant_id, type, ticket_id, message_id, payload,
        created_at FROM events WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending events: %w", err)
	}
	defer rows.Close()
	var out []ticket.Event
	for rows.Next() {
		var (
			e       ticket.Event
			payload sql.NullString
			created sql.NullString
		)
		if err := rows.Scan(&e.ID, &e.Tenant, &e.Type, &e.TicketID, &e.MessageID, &payload, &created); err != nil {
			return nil, fmt.Errorf("store: pending events: %w", err)
		}
		if payload.Valid {
			e.Payload = []byte(payload.String)
		}
		if e.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: pending events: %w", err)
	}
	return out, nil
}
