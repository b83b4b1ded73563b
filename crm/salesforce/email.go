package salesforce

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sidedesk/sidedesk/crm"
)

// How an email is saved to a Salesforce record.
const (
	// SaveEmailMessage saves an EmailMessage (Enhanced Email): related to
	// the record (RelatedToId) or Case (ParentId), with
	// EmailMessageRelation rows for the sender and recipients Salesforce
	// knows as Contacts, Leads or Users, and the Message-ID as
	// MessageIdentifier (an email is saved once across agents).
	SaveEmailMessage = "email_message"
	// SaveTask saves a completed Task of subtype Email, on the person
	// (WhoId) or the record (WhatId).
	SaveTask = "task"
)

// Field limits of the REST API (Object Reference).
const (
	maxSubject     = 255    // Task.Subject; EmailMessage.Subject is 3,000
	maxEmailBody   = 131072 // EmailMessage.TextBody, HtmlBody
	maxDescription = 32000  // Task.Description
	maxAddressList = 4000   // EmailMessage.ToAddress, CcAddress
)

// sobjectOf is the Salesforce object of a crm.Object.
func sobjectOf(o crm.Object) (string, bool) {
	switch o {
	case crm.ObjAccount:
		return "Account", true
	case crm.ObjContact:
		return "Contact", true
	case crm.ObjLead:
		return "Lead", true
	case crm.ObjOpportunity:
		return "Opportunity", true
	case crm.ObjCase:
		return "Case", true
	case crm.ObjCampaign:
		return "Campaign", true
	}
	return "", false
}

// Link implements crm.Connector: it saves the email to the Salesforce
// record (an EmailMessage or a Task, per Options.SaveAs) and records it,
// once per record and email however many agents save it.
func (c *Connector) Link(ctx context.Context, in crm.Link) (crm.Link, error) {
	if c.opts.Saved == nil {
		return crm.Link{}, fmt.Errorf("salesforce: saving an email: %w", crm.ErrUnsupported)
	}
	obj, ok := sobjectOf(in.Record.Object)
	if !ok {
		return crm.Link{}, fmt.Errorf("salesforce: link: unknown object %q", in.Record.Object)
	}
	if err := checkID(in.Record.ID); err != nil {
		return crm.Link{}, err
	}
	if in.Email == nil {
		return crm.Link{}, crm.RecordError{Field: "email", Err: fmt.Errorf("%w: the email's content is needed to save it to Salesforce", crm.ErrMissingField)}
	}
	if in.RFCMessageID == "" {
		in.RFCMessageID = in.Email.MessageID
	}
	if old, err := c.opts.Saved.SavedEmail(ctx, Provider, in); err == nil {
		return old, nil
	} else if !errors.Is(err, crm.ErrNotFound) {
		return crm.Link{}, err
	}
	var (
		ext string
		err error
	)
	if c.opts.SaveAs == SaveTask {
		ext, err = c.saveTask(ctx, in, obj)
	} else {
		ext, err = c.saveEmailMessage(ctx, in, obj)
	}
	if err != nil {
		return crm.Link{}, refused(err)
	}
	c.attach(ctx, in.Tenant, ext, in.Email)
	in.ExternalID = ext
	return c.opts.Saved.PutSavedEmail(ctx, Provider, in)
}

// Links implements crm.Connector: the emails saved to Salesforce records.
func (c *Connector) Links(ctx context.Context, tenant string, messageID int64, rfcMessageID string, ticketID int64) ([]crm.Link, error) {
	if c.opts.Saved == nil {
		return nil, nil
	}
	return c.opts.Saved.SavedEmails(ctx, Provider, tenant, messageID, rfcMessageID, ticketID)
}

func isPerson(obj string) bool { return obj == "Contact" || obj == "Lead" }

func (c *Connector) saveEmailMessage(ctx context.Context, in crm.Link, obj string) (string, error) {
	e := in.Email
	ident := ""
	if e.MessageID != "" {
		ident = "<" + strings.Trim(e.MessageID, "<>") + ">"
	}
	// Saved by another agent already (or by Email-to-Case): relate that.
	if ident != "" {
		var found []struct {
			ID          string `json:"Id"`
			RelatedToID string `json:"RelatedToId"`
			ParentID    string `json:"ParentId"`
		}
		err := c.query(ctx, in.Tenant, "SELECT Id, RelatedToId, ParentId FROM EmailMessage WHERE MessageIdentifier = "+Quote(ident)+" LIMIT 1",
			decodeInto(&found))
		if err != nil {
			return "", err
		}
		if len(found) > 0 {
			f := found[0]
			switch {
			case isPerson(obj):
				return f.ID, c.relate(ctx, in.Tenant, f.ID, in.Record.ID, relationType(e, in.Record.ID, nil), e.From.Email)
			case f.RelatedToID == "" && f.ParentID == "":
				// Related to nothing yet (a Case too: ParentId is set only
				// on insert).
				return f.ID, c.do(ctx, in.Tenant, http.MethodPatch, "sobjects/EmailMessage/"+f.ID, map[string]any{"RelatedToId": in.Record.ID}, nil)
			}
			// Related elsewhere already: Salesforce relates an email to
			// one record; it shows there and on its people.
			return f.ID, nil
		}
	}
	status := "3" // Sent
	if e.Incoming {
		status = "1" // Read
	}
	body := map[string]any{
		"Subject":     truncate(e.Subject, 3000),
		"FromAddress": e.From.Email,
		"FromName":    truncate(e.From.Name, 1000),
		"ToAddress":   addressList(e.To),
		"Incoming":    e.Incoming,
		"Status":      status,
	}
	if e.Text != "" {
		body["TextBody"] = truncate(e.Text, maxEmailBody)
	}
	if e.HTML != "" {
		body["HtmlBody"] = truncate(e.HTML, maxEmailBody)
	}
	if cc := addressList(e.Cc); cc != "" {
		body["CcAddress"] = cc
	}
	if !e.Date.IsZero() {
		body["MessageDate"] = e.Date.UTC().Format("2006-01-02T15:04:05.000+0000")
	}
	if ident != "" {
		body["MessageIdentifier"] = truncate(ident, 255)
	}
	switch {
	case obj == "Case":
		body["ParentId"] = in.Record.ID
	case !isPerson(obj):
		body["RelatedToId"] = in.Record.ID
	}
	var res createResult
	if err := c.do(ctx, in.Tenant, http.MethodPost, "sobjects/EmailMessage", body, &res); err != nil {
		return "", err
	}
	// The people on the email whom Salesforce knows, and the chosen one.
	people, err := c.peopleOf(ctx, in.Tenant, e)
	if err != nil {
		c.log.Warn("salesforce: matching the email's addresses failed; saved without them", "err", err)
	}
	if isPerson(obj) {
		people = append([]relation{{id: in.Record.ID, typ: relationType(e, in.Record.ID, people), addr: e.From.Email}}, people...)
	}
	seen := map[string]bool{}
	for _, p := range people {
		if seen[p.id+p.typ] {
			continue
		}
		seen[p.id+p.typ] = true
		if err := c.relate(ctx, in.Tenant, res.ID, p.id, p.typ, p.addr); err != nil {
			return res.ID, err
		}
	}
	return res.ID, nil
}

type relation struct{ id, typ, addr string }

// relationType is how the chosen person is on the email: the matched
// address's role, else the sender of an incoming mail or a recipient.
func relationType(e *crm.Email, id string, matched []relation) string {
	for _, p := range matched {
		if p.id == id {
			return p.typ
		}
	}
	if e.Incoming {
		return "FromAddress"
	}
	return "ToAddress"
}

func (c *Connector) relate(ctx context.Context, tenant, emailID, whoID, typ, addr string) error {
	body := map[string]any{"EmailMessageId": emailID, "RelationId": whoID, "RelationType": typ}
	if addr != "" {
		body["RelationAddress"] = addr
	}
	var res createResult
	return c.do(ctx, tenant, http.MethodPost, "sobjects/EmailMessageRelation", body, &res)
}

// peopleOf finds the Contacts, unconverted Leads and Users behind the
// email's addresses: three queries in parallel.
func (c *Connector) peopleOf(ctx context.Context, tenant string, e *crm.Email) ([]relation, error) {
	roles := map[string]string{}
	add := func(a crm.Address, typ string) {
		if em := crm.NormalizeEmail(a.Email); em != "" && roles[em] == "" {
			roles[em] = typ
		}
	}
	add(e.From, "FromAddress")
	for _, a := range e.To {
		add(a, "ToAddress")
	}
	for _, a := range e.Cc {
		add(a, "CcAddress")
	}
	if len(roles) == 0 {
		return nil, nil
	}
	var quoted []string
	for em := range roles {
		if len(quoted) == 100 {
			break
		}
		quoted = append(quoted, Quote(em))
	}
	in := "(" + strings.Join(quoted, ", ") + ")"
	type row struct {
		ID    string `json:"Id"`
		Email string
	}
	var contacts, leads, users []row
	errs := c.queryAll(ctx, tenant, []soqlQuery{
		{"SELECT Id, Email FROM Contact WHERE Email IN " + in + " LIMIT 200", decodeInto(&contacts)},
		{"SELECT Id, Email FROM Lead WHERE Email IN " + in + " AND IsConverted = false LIMIT 200", decodeInto(&leads)},
		{"SELECT Id, Email FROM User WHERE Email IN " + in + " LIMIT 200", decodeInto(&users)},
	})
	found := [][]row{contacts, leads, users}
	var out []relation
	for _, rows := range found {
		for _, r := range rows {
			em := crm.NormalizeEmail(r.Email)
			out = append(out, relation{id: r.ID, typ: roles[em], addr: em})
		}
	}
	return out, errors.Join(errs...)
}

func (c *Connector) saveTask(ctx context.Context, in crm.Link, obj string) (string, error) {
	e := in.Email
	var d strings.Builder
	fmt.Fprintf(&d, "From: %s\n", formatAddress(e.From))
	if to := addressList(e.To); to != "" {
		fmt.Fprintf(&d, "To: %s\n", to)
	}
	if cc := addressList(e.Cc); cc != "" {
		fmt.Fprintf(&d, "Cc: %s\n", cc)
	}
	if !e.Date.IsZero() {
		fmt.Fprintf(&d, "Date: %s\n", e.Date.UTC().Format(time.RFC1123Z))
	}
	if e.MessageID != "" {
		fmt.Fprintf(&d, "Message-ID: <%s>\n", strings.Trim(e.MessageID, "<>"))
	}
	d.WriteString("\n")
	d.WriteString(e.Text)
	subject := e.Subject
	if subject == "" {
		subject = "(no subject)"
	}
	body := map[string]any{
		"Subject":     truncate("Email: "+subject, maxSubject),
		"Description": truncate(d.String(), maxDescription),
		"Status":      "Completed",
		"TaskSubtype": "Email",
	}
	if !e.Date.IsZero() {
		body["ActivityDate"] = e.Date.UTC().Format(time.DateOnly)
	}
	if isPerson(obj) {
		body["WhoId"] = in.Record.ID
	} else {
		body["WhatId"] = in.Record.ID
	}
	var res createResult
	if err := c.do(ctx, in.Tenant, http.MethodPost, "sobjects/Task", body, &res); err != nil {
		return "", err
	}
	return res.ID, nil
}

func formatAddress(a crm.Address) string {
	if a.Name == "" {
		return a.Email
	}
	return a.Name + " <" + a.Email + ">"
}

// addressList is "a@x; b@y" (the EmailMessage address fields' form).
func addressList(as []crm.Address) string {
	var parts []string
	n := 0
	for _, a := range as {
		if a.Email == "" {
			continue
		}
		if n+len(a.Email)+2 > maxAddressList {
			break
		}
		parts = append(parts, a.Email)
		n += len(a.Email) + 2
	}
	return strings.Join(parts, "; ")
}

// truncate cuts s to at most n characters (not bytes), on a rune.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// attach copies the email's attachments as ContentVersion files published
// to the saved email (EmailMessage or Task). A file over the size limit,
// or one Salesforce refuses, is logged and skipped: the email itself is
// saved.
func (c *Connector) attach(ctx context.Context, tenant, parent string, e *crm.Email) {
	if c.opts.Blobs == nil {
		return
	}
	for _, a := range e.Attachments {
		if a.Size > c.opts.MaxAttachmentBytes {
			c.log.Info("salesforce: attachment over the size limit not copied", "file", a.Filename, "size", a.Size, "limit", c.opts.MaxAttachmentBytes)
			continue
		}
		if err := c.attachOne(ctx, tenant, parent, a); err != nil {
			c.log.Warn("salesforce: attachment not copied", "file", a.Filename, "err", err)
		}
	}
}

func (c *Connector) attachOne(ctx context.Context, tenant, parent string, a crm.EmailAttachment) error {
	rc, err := c.opts.Blobs.Open(ctx, a.SHA256)
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, c.opts.MaxAttachmentBytes+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > c.opts.MaxAttachmentBytes {
		return fmt.Errorf("larger than %d bytes", c.opts.MaxAttachmentBytes)
	}
	name := a.Filename
	if name == "" {
		name = "attachment"
	}
	body := map[string]any{"Title": truncate(name, 255), "PathOnClient": truncate(name, 500),
		"VersionData": base64.StdEncoding.EncodeToString(data), "FirstPublishLocationId": parent}
	var res createResult
	return c.do(ctx, tenant, http.MethodPost, "sobjects/ContentVersion", body, &res)
}
