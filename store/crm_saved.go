package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/ticket"
)

// Emails a CRM connector copied into the CRM (migration 2100):
// crm.SavedEmailStore.

const savedCols = linkCols + `, external_id`

func scanSaved(r rowScanner) (crm.Link, error) {
	var ext string
	k, err := scanLinkWith(r, &ext)
	k.ExternalID = ext
	return k, err
}

// SavedEmail is the saved copy of l's email on l's record: the same
// Message-ID, or the same message row; crm.ErrNotFound when none.
func (s *Store) SavedEmail(ctx context.Context, provider string, l crm.Link) (crm.Link, error) {
	rfc := strings.TrimSpace(l.RFCMessageID)
	if rfc == "" && l.MessageID == 0 {
		return crm.Link{}, fmt.Errorf("store: saved email: no Message-ID or message: %w", crm.ErrNotFound)
	}
	k, err := scanSaved(s.r.QueryRowContext(ctx, `SELECT `+savedCols+` FROM crm_saved_emails
        WHERE tenant_id = ? AND provider = ? AND object = ? AND record_id = ?
          AND ((rfc_message_id <> '' AND rfc_message_id = ?) OR (message_id <> 0 AND message_id = ?))
        ORDER BY id LIMIT 1`, l.Tenant, provider, string(l.Record.Object), l.Record.ID, rfc, l.MessageID))
	if errors.Is(err, sql.ErrNoRows) {
		return crm.Link{}, fmt.Errorf("store: saved email: %w", crm.ErrNotFound)
	}
	if err != nil {
		return crm.Link{}, fmt.Errorf("store: saved email: %w", err)
	}
	return k, nil
}

// PutSavedEmail records that l's email was saved to l's record as
// l.ExternalID.
func (s *Store) PutSavedEmail(ctx context.Context, provider string, l crm.Link) (crm.Link, error) {
	if l.Tenant == "" || l.Record.ID == "" || l.ExternalID == "" {
		return crm.Link{}, errors.New("store: saved email: Tenant, Record.ID and ExternalID are required")
	}
	now := s.nowUTC()
	err := s.withTx(ctx, func(t ticket.Tx) error {
		q := t.(*tx).q
		res, err := q.ExecContext(ctx, `INSERT INTO crm_saved_emails (tenant_id, provider, object, record_id, external_id,
            message_id, ticket_id, rfc_message_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			l.Tenant, provider, string(l.Record.Object), l.Record.ID, l.ExternalID, l.MessageID, l.TicketID,
			strings.TrimSpace(l.RFCMessageID), l.CreatedBy, fmtTime(now))
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		l.ID, l.CreatedAt = idStr(id), now
		e, err := crmLinkedEvent(ctx, q, l)
		if err != nil {
			return err
		}
		return t.AppendEvent(ctx, &e)
	})
	if err != nil {
		return crm.Link{}, fmt.Errorf("store: saved email: %w", err)
	}
	l.CreatedAt, l.Email = now, nil
	return l, nil
}

// SavedEmails lists the saved copies of a message (row id or Message-ID)
// or of a ticket's mail, oldest first.
func (s *Store) SavedEmails(ctx context.Context, provider, tenant string, messageID int64, rfcMessageID string, ticketID int64) ([]crm.Link, error) {
	cond, args := linkConds([]any{tenant, provider}, messageID, rfcMessageID, ticketID)
	if cond == "" {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+savedCols+` FROM crm_saved_emails WHERE tenant_id = ? AND provider = ? AND `+
		cond+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: saved emails: %w", err)
	}
	out, err := collect(rows, scanSaved)
	if err != nil {
		return nil, fmt.Errorf("store: saved emails: %w", err)
	}
	return out, nil
}

var _ crm.SavedEmailStore = (*Store)(nil)
