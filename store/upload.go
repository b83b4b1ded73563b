package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sidedesk/sidedesk/ticket"
)

// Uploads (migration 2900): files to attach to replies.

// PutUpload records an uploaded blob for u.Tenant and returns it with its
// id and time.
func (s *Store) PutUpload(ctx context.Context, u ticket.Upload) (ticket.Upload, error) {
	u.CreatedAt = s.nowUTC()
	err := s.write(ctx, func(q querier) error {
		var err error
		u.ID, err = insertID(ctx, q, `INSERT INTO uploads (tenant_id, filename, content_type, size, sha256, created_by, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)`, u.Tenant, u.Filename, u.ContentType, u.Size, u.SHA256, u.CreatedBy, fmtTime(u.CreatedAt))
		return err
	})
	if err != nil {
		return u, fmt.Errorf("store: put upload: %w", err)
	}
	return u, nil
}

// Upload loads the tenant's upload id; ticket.ErrNotFound when it has none
// of that id.
func (s *Store) Upload(ctx context.Context, tenant string, id int64) (ticket.Upload, error) {
	u := ticket.Upload{ID: id, Tenant: tenant}
	var at sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT filename, content_type, size, sha256, created_by, created_at
        FROM uploads WHERE tenant_id = ? AND id = ?`, tenant, id).
		Scan(&u.Filename, &u.ContentType, &u.Size, &u.SHA256, &u.CreatedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("store: upload %d: %w", id, ticket.ErrNotFound)
	}
	if err == nil {
		u.CreatedAt, err = parseTime(at)
	}
	if err != nil {
		return u, fmt.Errorf("store: upload %d: %w", id, err)
	}
	return u, nil
}
