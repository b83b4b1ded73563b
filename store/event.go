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
