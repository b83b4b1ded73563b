package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sidedesk/sidedesk/crm"
)

// Agents' CRM connections (migration 2000): crm.ConnectionStore.

const connectionColumns = `tenant_id, agent, provider, instance_url, identity_url, crm_user_id, username,
    refresh_sealed, status, last_error, connected_at, updated_at`

func scanConnection(sc scanner) (crm.Connection, error) {
	var (
		c              crm.Connection
		connected, upd sql.NullString
	)
	if err := sc.Scan(&c.Tenant, &c.Agent, &c.Provider, &c.InstanceURL, &c.IdentityURL, &c.UserID, &c.Username,
		&c.RefreshSealed, &c.Status, &c.LastError, &connected, &upd); err != nil {
		return c, err
	}
	var err error
	if c.ConnectedAt, err = parseTime(connected); err != nil {
		return c, err
	}
	c.UpdatedAt, err = parseTime(upd)
	return c, err
}

// CRMConnection loads an agent's connection to provider; crm.ErrNotFound
// when there is none.
func (s *Store) CRMConnection(ctx context.Context, tenant, agent, provider string) (crm.Connection, error) {
	c, err := scanConnection(s.r.QueryRowContext(ctx, `SELECT `+connectionColumns+` FROM crm_connections
        WHERE tenant_id = ? AND agent = ? AND provider = ?`, tenant, agent, provider))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("store: %s connection of %s: %w", provider, agent, crm.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("store: %s connection of %s: %w", provider, agent, err)
	}
	return c, nil
}

// PutCRMConnection stores (inserts or replaces) an agent's connection;
// UpdatedAt is set here, ConnectedAt kept from the first time.
func (s *Store) PutCRMConnection(ctx context.Context, c crm.Connection) error {
	now := s.nowUTC()
	if c.ConnectedAt.IsZero() {
		c.ConnectedAt = now
	}
	err := s.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO crm_connections (`+connectionColumns+`)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, agent, provider) DO UPDATE SET instance_url = excluded.instance_url,
              identity_url = excluded.identity_url, crm_user_id = excluded.crm_user_id, username = excluded.username,
              refresh_sealed = excluded.refresh_sealed, status = excluded.status, last_error = excluded.last_error,
              updated_at = excluded.updated_at`,
			c.Tenant, c.Agent, c.Provider, c.InstanceURL, c.IdentityURL, c.UserID, c.Username, c.RefreshSealed,
			c.Status, c.LastError, fmtTime(c.ConnectedAt), fmtTime(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put %s connection of %s: %w", c.Provider, c.Agent, err)
	}
	return nil
}

// CRMConnections lists every tenant's connections to provider (health:
// which agents are disconnected), by tenant and agent.
func (s *Store) CRMConnections(ctx context.Context, provider string) ([]crm.Connection, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+connectionColumns+` FROM crm_connections
        WHERE provider = ? ORDER BY tenant_id, agent`, provider)
	if err != nil {
		return nil, fmt.Errorf("store: crm connections: %w", err)
	}
	defer rows.Close()
	var out []crm.Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, fmt.Errorf("store: crm connections: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
