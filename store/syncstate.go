package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sidedesk/sidedesk/ticket"
)

// SyncState returns the capture position stored for (tenant, mailbox), as
// the capture source encoded it; ticket.ErrNotFound when there is none.
func (s *Store) SyncState(ctx context.Context, tenant, mailbox string) ([]byte, error) {
	var state []byte
	err := s.r.QueryRowContext(ctx, `SELECT state FROM sync_state WHERE tenant_id = ? AND mailbox = ?`,
		tenant, mailbox).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: sync state of %s/%s: %w", tenant, mailbox, ticket.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: sync state of %s/%s: %w", tenant, mailbox, err)
	}
	if state == nil {
		state = []byte{}
	}
	return state, nil
}

// SetSyncState stores the capture position of (tenant, mailbox). Capture
// calls it only after the messages up to that position are committed.
func (s *Store) SetSyncState(ctx context.Context, tenant, mailbox string, state []byte) error {
	if tenant == "" || mailbox == "" {
		return errors.New("store: set sync state: tenant and mailbox are required")
	}
	if state == nil {
		state = []byte{}
	}
	now := fmtTime(s.nowUTC())
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO sync_state (tenant_id, mailbox, state, updated_at)
            VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, mailbox)
            DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
			tenant, mailbox, state, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set sync state of %s/%s: %w", tenant, mailbox, err)
	}
	return nil
}
