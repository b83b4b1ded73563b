package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sidedesk/sidedesk/internal/mailauth"
)

// Mailboxes' OAuth connections (migration 2800): mailauth.Store.

// MailboxOAuth loads the mailbox's connection; ok is false when there is
// none.
func (s *Store) MailboxOAuth(ctx context.Context, tenant, mailbox string) (mailauth.Connection, bool, error) {
	c := mailauth.Connection{Tenant: tenant, Mailbox: mailbox}
	var connected, upd sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT refresh_sealed, origin, status, last_error, connected_by, connected_at, updated_at
        FROM mailbox_oauth WHERE tenant_id = ? AND mailbox = ?`, tenant, mailbox).
		Scan(&c.RefreshSealed, &c.Origin, &c.Status, &c.LastError, &c.ConnectedBy, &connected, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err == nil {
		if c.ConnectedAt, err = parseTime(connected); err == nil {
			c.UpdatedAt, err = parseTime(upd)
		}
	}
	if err != nil {
		return c, false, fmt.Errorf("store: OAuth connection of mailbox %q: %w", mailbox, err)
	}
	return c, true, nil
}

// PutMailboxOAuth inserts or replaces the mailbox's connection; UpdatedAt
// is set here, ConnectedAt kept from the first time unless given.
func (s *Store) PutMailboxOAuth(ctx context.Context, c mailauth.Connection) error {
	now := s.nowUTC()
	connected := ""
	if !c.ConnectedAt.IsZero() {
		connected = fmtTime(c.ConnectedAt)
	}
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO mailbox_oauth (tenant_id, mailbox, refresh_sealed, origin, status,
              last_error, connected_by, connected_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, COALESCE(NULLIF(?, ''), ?), ?)
            ON CONFLICT (tenant_id, mailbox) DO UPDATE SET refresh_sealed = excluded.refresh_sealed,
              origin = excluded.origin, status = excluded.status, last_error = excluded.last_error,
              connected_by = excluded.connected_by,
              connected_at = CASE WHEN ? = '' THEN mailbox_oauth.connected_at ELSE excluded.connected_at END,
              updated_at = excluded.updated_at`,
			c.Tenant, c.Mailbox, c.RefreshSealed, c.Origin, c.Status, c.LastError, c.ConnectedBy,
			connected, fmtTime(now), fmtTime(now), connected)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put OAuth connection of mailbox %q: %w", c.Mailbox, err)
	}
	return nil
}
