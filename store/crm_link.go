package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/ticket"
)

// recordTables names the table of each object, to check a link's record.
var recordTables = map[crm.Object]string{
	crm.ObjAccount:     "crm_accounts",
	crm.ObjContact:     "crm_contacts",
	crm.ObjLead:        "crm_leads",
	crm.ObjOpportunity: "crm_opportunities",
	crm.ObjCampaign:    "crm_campaigns",
	crm.ObjCase:        "crm_cases",
}

const linkCols = `id, tenant_id, object, record_id, message_id, ticket_id, rfc_message_id, created_by, created_at`

// Link implements Connector. The record must exist in the tenant
// (ErrNotFound otherwise) and the link must name an email (MessageID or
// RFCMessageID) or a ticket. The same record and email (same Message-ID, or
// same message row id), or the same record and ticket for a ticket-only
// link, is one link: linking again returns it, filling in a message or
// ticket id it did not know yet.
func (l *LocalCRM) Link(ctx context.Context, in crm.Link) (crm.Link, error) {
	table, ok := recordTables[in.Record.Object]
	if !ok {
		return crm.Link{}, fmt.Errorf("crm: link: unknown object %q", in.Record.Object)
	}
	rec := idNum(in.Record.ID)
	in.RFCMessageID = strings.TrimSpace(in.RFCMessageID)
	if in.Tenant == "" {
		return crm.Link{}, errors.New("crm: link: Tenant is required")
	}
	if in.MessageID == 0 && in.RFCMessageID == "" && in.TicketID == 0 {
		return crm.Link{}, errors.New("crm: link: name a message (MessageID or RFCMessageID) or a ticket")
	}
	var out crm.Link
	err := l.inTx(ctx, func(t *wtx) error {
		var one int
		found, err := t.row(ctx, `SELECT 1 FROM `+table+` WHERE tenant_id = ? AND id = ?`, []any{in.Tenant, rec}, &one)
		if err != nil {
			return fmt.Errorf("crm: link: %w", err)
		}
		if !found {
			return fmt.Errorf("crm: link: %s %q: %w", in.Record.Object, in.Record.ID, crm.ErrNotFound)
		}
		recID := idStr(rec)
		// The existing link of this record and email (or ticket).
		var q string
		var args []any
		switch {
		case in.RFCMessageID != "" || in.MessageID != 0:
			q = `SELECT ` + linkCols + ` FROM crm_links WHERE tenant_id = ? AND object = ? AND record_id = ?
  AND ((rfc_message_id <> '' AND rfc_message_id = ?) OR (message_id <> 0 AND message_id = ?)) ORDER BY id LIMIT 1`
			args = []any{in.Tenant, string(in.Record.Object), recID, in.RFCMessageID, in.MessageID}
		default:
			q = `SELECT ` + linkCols + ` FROM crm_links WHERE tenant_id = ? AND object = ? AND record_id = ?
  AND message_id = 0 AND rfc_message_id = '' AND ticket_id = ? ORDER BY id LIMIT 1`
			args = []any{in.Tenant, string(in.Record.Object), recID, in.TicketID}
		}
		st, err := t.stmt(ctx, q)
		if err != nil {
			return fmt.Errorf("crm: link: %w", err)
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("crm: link: %w", err)
		}
		existing, err := collect(rows, scanLink)
		if err != nil {
			return fmt.Errorf("crm: link: %w", err)
		}
		if len(existing) > 0 {
			out = existing[0]
			before := out
			if out.MessageID == 0 {
				out.MessageID = in.MessageID
			}
			if out.TicketID == 0 {
				out.TicketID = in.TicketID
			}
			if out.RFCMessageID == "" {
				out.RFCMessageID = in.RFCMessageID
			}
			if out != before {
				_, err = t.exec(ctx, `UPDATE crm_links SET message_id = ?, ticket_id = ?, rfc_message_id = ? WHERE id = ?`,
					out.MessageID, out.TicketID, out.RFCMessageID, idNum(out.ID))
				if err != nil {
					return fmt.Errorf("crm: link: %w", err)
				}
			}
			return nil
		}
		id, err := t.insertID(ctx, `INSERT INTO crm_links (tenant_id, object, record_id, message_id, ticket_id, rfc_message_id,
  created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			in.Tenant, string(in.Record.Object), recID, in.MessageID, in.TicketID, in.RFCMessageID, in.CreatedBy, t.now)
		if err != nil {
			return fmt.Errorf("crm: link: %w", err)
		}
		out = in
		out.ID = idStr(id)
		out.Record.ID = recID
		if out.CreatedAt, err = parseTime(sql.NullString{String: t.now, Valid: true}); err != nil {
			return err
		}
		return t.linkedEvent(ctx, out)
	})
	return out, err
}

// Links implements Connector: the links of the message (row id or
// Message-ID) or of the ticket, oldest first; any of the three may be zero.
func (l *LocalCRM) Links(ctx context.Context, tenant string, messageID int64, rfcMessageID string, ticketID int64) ([]crm.Link, error) {
	cond, args := linkConds([]any{tenant}, messageID, rfcMessageID, ticketID)
	if cond == "" {
		return nil, nil
	}
	rows, err := l.r.QueryContext(ctx, `SELECT `+linkCols+` FROM crm_links WHERE tenant_id = ? AND `+cond+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("crm: links: %w", err)
	}
	links, err := collect(rows, scanLink)
	if err != nil {
		return nil, fmt.Errorf("crm: links: %w", err)
	}
	return links, nil
}

func scanLink(r rowScanner) (crm.Link, error) { return scanLinkWith(r) }

// scanLinkWith scans linkCols and then the columns of extra.
func scanLinkWith(r rowScanner, extra ...any) (crm.Link, error) {
	var (
		k       crm.Link
		id      int64
		obj     string
		created sql.NullString
	)
	if err := r.Scan(append([]any{&id, &k.Tenant, &obj, &k.Record.ID, &k.MessageID, &k.TicketID, &k.RFCMessageID,
		&k.CreatedBy, &created}, extra...)...); err != nil {
		return crm.Link{}, err
	}
	k.ID = idStr(id)
	k.Record.Object = crm.Object(obj)
	var err error
	k.CreatedAt, err = parseTime(created)
	return k, err
}

// linkConds is the "(message_id = ? OR rfc_message_id = ? OR ticket_id = ?)"
// of the ones given (non-zero), appended to args; "" when none is.
func linkConds(args []any, messageID int64, rfcMessageID string, ticketID int64) (string, []any) {
	var conds []string
	if messageID != 0 {
		conds, args = append(conds, `message_id = ?`), append(args, messageID)
	}
	if rfc := strings.TrimSpace(rfcMessageID); rfc != "" {
		conds, args = append(conds, `rfc_message_id = ?`), append(args, rfc)
	}
	if ticketID != 0 {
		conds, args = append(conds, `ticket_id = ?`), append(args, ticketID)
	}
	if len(conds) == 0 {
		return "", args
	}
	return "(" + strings.Join(conds, " OR ") + ")", args
}

// linkedEvent appends crm.linked for a new link (webhooks, the event
// stream).
func (t *wtx) linkedEvent(ctx context.Context, l crm.Link) error {
	e, err := crmLinkedEvent(ctx, t.tx, l)
	if err == nil {
		err = appendEvent(ctx, t.tx, l.CreatedAt, &e)
	}
	if err != nil {
		return fmt.Errorf("crm: link: %w", err)
	}
	t.events = true
	return nil
}

// crmLinkedEvent is the crm.linked event of a new link (local or a copy
// saved in Salesforce).
func crmLinkedEvent(ctx context.Context, q querier, l crm.Link) (ticket.Event, error) {
	p := ticket.CRMLinkedPayload{Object: string(l.Record.Object), RecordID: l.Record.ID, LinkID: l.ID,
		MessageID: l.RFCMessageID, Actor: l.CreatedBy}
	if l.TicketID != 0 {
		err := q.QueryRowContext(ctx, `SELECT number FROM tickets WHERE tenant_id = ? AND id = ?`, l.Tenant, l.TicketID).Scan(&p.TicketNumber)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return ticket.Event{}, err
		}
	}
	payload, err := json.Marshal(p)
	if err != nil {
		return ticket.Event{}, err
	}
	return ticket.Event{Tenant: l.Tenant, Type: ticket.EventCRMLinked, TicketID: l.TicketID, MessageID: l.MessageID,
		Payload: payload, CreatedAt: l.CreatedAt}, nil
}
