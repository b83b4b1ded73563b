package sidebar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/sidebar/views"
	"github.com/sidedesk/sidedesk/ticket"
)

// PanelStore is what the panel, sign-in and sessions need of the store;
// *store.Store implements it, and *store.PanelReads (the same on prepared
// statements: use it in production). Look-ups are tenant-scoped and answer
// ticket.ErrNotFound.
type PanelStore interface {
	MessageByMessageID(ctx context.Context, tenant, rfcID string) (ticket.Message, error)
	Ticket(ctx context.Context, tenant string, id int64) (ticket.Ticket, error)
	TicketByNumber(ctx context.Context, tenant string, number int64) (ticket.Ticket, error)
	RecentMessages(ctx context.Context, tenant string, ticketID int64, n int) ([]ticket.Message, error)
	// MessagesBefore: the messages stored before message before, the
	// last n of them, oldest first (the thread's earlier page).
	MessagesBefore(ctx context.Context, tenant string, ticketID, before int64, n int) ([]ticket.Message, error)
	TicketsByRequester(ctx context.Context, tenant, email string, limit int) ([]ticket.Ticket, error)
	UserByEmail(ctx context.Context, tenant, email string) (ticket.User, error)
	UserByID(ctx context.Context, tenant string, id int64) (ticket.User, error)
	// Users lists the tenant's agents (the assignee picker).
	Users(ctx context.Context, tenant string) ([]ticket.User, error)
	CreateSession(ctx context.Context, tenant string, userID int64, idHash, csrfToken string, expires time.Time) (ticket.Session, error)
	SessionByHash(ctx context.Context, idHash string) (ticket.Session, error)
	DeleteSession(ctx context.Context, idHash string) error
}

// Replier sends agents' replies (package mailout); nil: the panel has no
// reply box.
type Replier interface {
	Reply(ctx context.Context, tenant string, ticketID int64, r ticket.ReplyRequest) (ticket.Message, error)
}

// PanelActions are the agent actions of the panel; *ticket.Service
// implements it.
type PanelActions interface {
	Update(ctx context.Context, tenant string, id int64, ch ticket.Change) (ticket.Ticket, error)
	CreateFromPanel(ctx context.Context, tenant string, req ticket.NewTicket) (ticket.Ticket, error)
	AddNote(ctx context.Context, tenant string, id int64, author, text string) (ticket.Message, error)
}

// assetBase is where the embedded assets are served.
const assetBase = "/sidebar/assets"

// Limits of what the panel shows.
const (
	recentMessages = 20 // the ticket's thread, latest messages
	otherTickets   = 5  // the sender's other recent tickets
	maxHeaderValue = 998
)

// panelCSP is the Content-Security-Policy of every HTML page but the
// Outlook task pane: only our own scripts and styles (no inline ones, no
// eval), images from us or data: (remote images in mail, tracking pixels
// included, stay blocked, also inside the srcdoc iframe, which inherits
// this policy), forms only to us, and framing only by us and Outlook on
// the web / Office hosts.
const panelCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; " +
	"frame-ancestors " + outlookAncestors

// outlookAncestors may frame the panel: ourselves and the Outlook hosts
// that show add-in task panes in an iframe.
const outlookAncestors = "'self' https://outlook.office.com https://outlook.office365.com " +
	"https://outlook.live.com https://*.outlook.com https://*.office.com https://*.office365.com " +
	"https://*.officeapps.live.com https://*.microsoft365.com"

func (s *Server) panelRoutes() {
	handle := func(pattern string, h http.Handler) {
		s.mux.Handle(pattern, h)
		s.patterns = append(s.patterns, pattern)
	}
	handle("GET /login", http.HandlerFunc(s.loginPage))
	handle("POST /login", http.HandlerFunc(s.login))
	handle("POST /logout", s.requireAgent(s.logout))
	handle("GET /sidebar", s.requireAgent(s.panel))
	handle("POST /sidebar/link", s.requireAgent(s.actLink))
	handle("POST /sidebar/ticket", s.requireAgent(s.actCreateTicket))
	handle("POST /sidebar/ticket/update", s.requireAgent(s.actUpdateTicket))
	handle("POST /sidebar/note", s.requireAgent(s.actNote))
	handle("POST /sidebar/reply", s.requireAgent(s.actReply))
	handle("GET /sidebar/thread", s.requireAgent(s.threadPage))
	handle("POST /sidebar/contact", s.requireAgent(s.actCreateContact))
	handle("POST /sidebar/lead", s.requireAgent(s.actCreateLead))
	if _, ok := s.opts.CRM.(crm.Authorizer); ok {
		handle("GET /sidebar/crm/connect", s.requireAgent(s.crmConnect))
		handle("GET /sidebar/crm/callback", s.requireAgent(s.crmCallback))
	}
	if _, ok := s.opts.CRM.(crm.RecordEditor); ok {
		handle("POST /sidebar/crm/update", s.requireAgent(s.actUpdateRecord))
	}
	if _, ok := s.opts.CRM.(crm.RecordForms); ok {
		handle("GET /sidebar/crm/record", s.requireAgent(s.recordPage))
		handle("POST /sidebar/crm/record", s.requireAgent(s.saveRecord))
		handle("POST /sidebar/crm/record/delete", s.requireAgent(s.deleteRecord))
		handle("GET /sidebar/crm/new", s.requireAgent(s.newRecordPage))
		handle("POST /sidebar/crm/new", s.requireAgent(s.createFromForm))
		handle("GET /sidebar/crm/find", s.requireAgent(s.findPage))
	}
	if _, ok := s.opts.CRM.(crm.LeadConverter); ok {
		handle("POST /sidebar/crm/convert", s.requireAgent(s.actConvertLead))
	}
	if s.opts.Mailboxes != nil {
		handle("GET /sidebar/mailboxes", s.requireAgent(s.mailboxesPage))
		handle("GET /sidebar/mailboxes/connect", s.requireAgent(s.mailboxConnect))
		handle("GET /sidebar/mailboxes/callback", s.requireAgent(s.mailboxCallback))
	}
	if s.opts.Consent != nil {
		handle("GET /oauth/consent", s.requireAgent(s.consentPage))
		handle("POST /oauth/consent", s.requireAgent(s.consent))
	}
	handle("GET /sidebar/assets/{file}", http.HandlerFunc(s.asset))
	handle("GET /sidebar/outlook/manifest.xml", http.HandlerFunc(s.outlookManifest))
	handle("GET /sidebar/outlook/taskpane", http.HandlerFunc(s.outlookTaskPane))
	handle("GET /sidebar/outlook/icons/{name}", http.HandlerFunc(s.outlookIcon))
}

// htmlHeaders are set on every HTML answer. Referrer-Policy same-origin
// (not the API's no-referrer): with no-referrer browsers send "Origin:
// null" on our own form posts, which the CSRF check must refuse; other
// sites still get no referrer.
func htmlHeaders(h http.Header, csp string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
}

// renderHTML renders c into a buffer first, so a render error becomes a
// clean 500 instead of half a page.
func (s *Server) renderHTML(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.htmlError(w, r, http.StatusInternalServerError, "The page could not be rendered.", err)
		return
	}
	htmlHeaders(w.Header(), panelCSP)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderFragments renders only the named templ fragments of c (an htmx
// swap of the affected part).
func (s *Server) renderFragments(w http.ResponseWriter, r *http.Request, c templ.Component, ids ...any) {
	var buf bytes.Buffer
	if err := templ.RenderFragments(r.Context(), &buf, c, ids...); err != nil {
		s.htmlError(w, r, http.StatusInternalServerError, "The panel could not be rendered.", err)
		return
	}
	htmlHeaders(w.Header(), panelCSP)
	_, _ = w.Write(buf.Bytes())
}

// htmlError is the one place HTML error pages are made; err (the cause)
// is logged, never shown.
func (s *Server) htmlError(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("request_id", requestID(r))}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "sidebar: "+msg, attrs...)
	a, _ := AgentFrom(r.Context())
	var buf bytes.Buffer
	_ = views.ErrorPage(views.Page{Title: "sidedesk", CSRF: a.CSRF, AssetBase: assetBase}, status, msg).Render(r.Context(), &buf)
	htmlHeaders(w.Header(), panelCSP)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// panelContext reads the panel's context from a query or form: Message-ID
// (angle brackets dropped), sender (a bare address or "Name <addr>",
// normalised), subject, ticket number.
func panelContext(get func(string) string) (views.Context, error) {
	c := views.Context{
		MessageID: strings.Trim(strings.TrimSpace(get("message_id")), "<>"),
		Subject:   strings.TrimSpace(get("subject")),
	}
	if len(c.MessageID) > maxHeaderValue || strings.ContainsAny(c.MessageID, "\r\n") {
		return c, fmt.Errorf("%w message_id: too long or not one line", ticket.ErrInvalid)
	}
	if r := []rune(c.Subject); len(r) > maxHeaderValue {
		c.Subject = string(r[:maxHeaderValue])
	}
	if from := strings.TrimSpace(get("from")); from != "" {
		a, err := mail.ParseAddress(from)
		if err != nil || len(from) > maxHeaderValue {
			return c, fmt.Errorf("%w from %q: not an email address", ticket.ErrInvalid, from)
		}
		c.From = ticket.NormEmail(a.Address)
	}
	if n := strings.TrimSpace(strings.TrimPrefix(get("ticket"), "#")); n != "" {
		num, err := strconv.ParseInt(n, 10, 64)
		if err != nil || num <= 0 {
			return c, fmt.Errorf("%w ticket %q: not a ticket number", ticket.ErrInvalid, n)
		}
		c.Ticket = num
	}
	return c, nil
}

// panel serves GET /sidebar.
func (s *Server) panel(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	pc, err := panelContext(r.URL.Query().Get)
	if err != nil {
		s.htmlError(w, r, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "invalid "), err)
		return
	}
	p, err := s.buildPanel(r.Context(), a, pc)
	if err != nil {
		s.panelLoadError(w, r, err)
		return
	}
	p.Flash = doneMessages[r.URL.Query().Get("done")]
	s.renderHTML(w, r, http.StatusOK, views.PanelPage(p))
}

func (s *Server) panelLoadError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	if errors.Is(err, ticket.ErrNotFound) {
		s.htmlError(w, r, http.StatusNotFound, "No such ticket.", err)
		return
	}
	s.htmlError(w, r, http.StatusInternalServerError, "The panel could not be loaded.", err)
}

// doneMessages are the success notes after a plain (non-htmx) form post
// redirected back; only these fixed texts are ever shown.
var doneMessages = map[string]string{
	"linked":    "Saved to CRM.",
	"ticket":    "Ticket created.",
	"updated":   "Ticket updated.",
	"note":      "Note added.",
	"reply":     "Reply queued; it is sent in a moment.",
	"contact":   "Contact created.",
	"lead":      "Lead created.",
	"crm":       "CRM account connected.",
	"record":    "Saved in the CRM.",
	"converted": "Lead converted.",
	"deleted":   "Deleted in the CRM.",
}

// gather loads the facts of a panel context for tenant.
func (s *Server) gather(ctx context.Context, tenant string, pc views.Context) (Facts, error) {
	f := Facts{Email: pc.From}
	switch {
	case pc.Ticket != 0:
		t, err := s.opts.Panel.TicketByNumber(ctx, tenant, pc.Ticket)
		if err != nil {
			return f, err
		}
		f.Ticket = &t
	case pc.MessageID != "":
		m, err := s.opts.Panel.MessageByMessageID(ctx, tenant, pc.MessageID)
		switch {
		case err == nil:
			f.Message = &m
			if m.TicketID != 0 {
				t, err := s.opts.Panel.Ticket(ctx, tenant, m.TicketID)
				if err != nil {
					return f, err
				}
				f.Ticket = &t
			}
		case !errors.Is(err, ticket.ErrNotFound):
			return f, err
		}
	}
	if f.Email == "" {
		switch {
		case f.Message != nil && f.Message.Direction == ticket.DirectionInbound:
			f.Email = f.Message.From.Email
		case f.Ticket != nil:
			f.Email = f.Ticket.Requester.Email
		}
	}
	if f.Ticket != nil {
		msgs, err := s.opts.Panel.RecentMessages(ctx, tenant, f.Ticket.ID, recentMessages)
		if err != nil {
			return f, err
		}
		f.Recent = msgs
	}
	if f.Email != "" {
		ts, err := s.opts.Panel.TicketsByRequester(ctx, tenant, f.Email, otherTickets+1)
		if err != nil {
			return f, err
		}
		for _, t := range ts {
			if (f.Ticket == nil || t.ID != f.Ticket.ID) && len(f.Others) < otherTickets {
				f.Others = append(f.Others, t)
			}
		}
	}
	if s.opts.CRM != nil {
		var msgID, ticketID int64
		if f.Message != nil {
			msgID = f.Message.ID
		}
		if f.Ticket != nil {
			ticketID = f.Ticket.ID
		}
		var linkErr error
		if msgID != 0 || ticketID != 0 || pc.MessageID != "" {
			f.Links, linkErr = s.opts.CRM.Links(ctx, tenant, msgID, pc.MessageID, ticketID)
		}
		// The look-up and the linked cases' reads are one round.
		var linked []crm.Case
		var wg sync.WaitGroup
		wg.Go(func() { linked = s.linkedCases(ctx, tenant, f.Links) })
		if f.Email != "" {
			f.Match, f.CRMError = s.opts.CRM.Match(ctx, tenant, f.Email)
		}
		wg.Wait()
		if f.CRMError == nil {
			f.CRMError = linkErr
		}
		have := map[string]bool{}
		for _, c := range f.Match.Cases {
			have[c.ID] = true
		}
		for _, c := range linked {
			if !have[c.ID] {
				f.Match.Cases = append(f.Match.Cases, c)
			}
		}
	}
	return f, nil
}

// linkedCases reads the cases the mail or its ticket was saved to (up to
// 10, in parallel), so the agent sees the ticket's case whatever its
// state, even one the look-up does not find (closed, another contact's).
func (s *Server) linkedCases(ctx context.Context, tenant string, links []crm.Link) []crm.Case {
	cr, ok := s.opts.CRM.(crm.CaseReader)
	if !ok {
		return nil
	}
	var want []crm.Link
	seen := map[string]bool{}
	for _, l := range links {
		if l.Record.Object == crm.ObjCase && !seen[l.Record.ID] && len(want) < 10 {
			seen[l.Record.ID] = true
			want = append(want, l)
		}
	}
	out := make([]crm.Case, len(want))
	found := make([]bool, len(want))
	var wg sync.WaitGroup
	for i, l := range want {
		wg.Go(func() {
			c, err := cr.Case(ctx, tenant, l.Record.ID)
			if err != nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "sidebar: linked case look-up failed", slog.String("case", l.Record.ID), slog.String("error", err.Error()))
				return
			}
			c.TicketID = l.TicketID
			out[i], found[i] = c, true
		})
	}
	wg.Wait()
	var cases []crm.Case
	for i, c := range out {
		if found[i] {
			cases = append(cases, c)
		}
	}
	return cases
}

// buildPanel turns the facts into the view model.
func (s *Server) buildPanel(ctx context.Context, a Agent, pc views.Context) (views.Panel, error) {
	// The describes the in-place edits and create forms need are read in
	// the look-up's round (the connector caches them), not after it.
	var warm sync.WaitGroup
	if ed, ok := s.opts.CRM.(crm.RecordEditor); ok {
		for _, obj := range []crm.Object{crm.ObjOpportunity, crm.ObjCase, crm.ObjContact, crm.ObjLead} {
			warm.Go(func() { _, _ = ed.Fields(ctx, a.Tenant, obj) }) // errors are logged where they are used
		}
	}
	f, err := s.gather(ctx, a.Tenant, pc)
	warm.Wait()
	if err != nil {
		return views.Panel{}, err
	}
	p := views.Panel{
		Page:     views.Page{Title: "sidedesk", CSRF: a.CSRF, AssetBase: assetBase},
		Agent:    views.Agent{Email: a.Email, Name: a.Name, Role: a.Role},
		Ctx:      pc,
		Email:    f.Email,
		HasCRM:   s.opts.CRM != nil,
		CanAct:   s.opts.Actions != nil,
		CanReply: s.opts.Actions != nil && s.opts.Replies != nil,
		Match:    f.Match,
		Message:  f.Message,
		Ticket:   f.Ticket,
		Recent:   f.Recent,
		// A full page of recent messages may have earlier ones.
		MoreThread: len(f.Recent) == recentMessages,
		Others:     f.Others,
		Now:        s.now(),
	}
	if p.Ctx.From == "" {
		p.Ctx.From = f.Email
	}
	_, p.CanConvert = s.opts.CRM.(crm.LeadConverter)
	_, p.CanEdit = s.opts.CRM.(crm.RecordForms)
	if ed, ok := s.opts.CRM.(crm.RecordEditor); ok && f.CRMError == nil && f.Email != "" && len(f.Match.Contacts) == 0 && len(f.Match.Leads) == 0 {
		p.ContactExtra, p.LeadExtra = s.requiredExtras(ctx, a.Tenant, ed)
	}
	if ed, ok := s.opts.CRM.(crm.RecordEditor); ok && f.CRMError == nil && (len(f.Match.Opportunities) > 0 || len(f.Match.Cases) > 0) {
		p.OppStages, p.CaseStatuses = s.editableValues(ctx, a.Tenant, ed, len(f.Match.Opportunities) > 0, len(f.Match.Cases) > 0)
	}
	if f.Ticket != nil && p.CanReply {
		p.Macros = s.renderMacros(*f.Ticket, a)
	}
	if f.Ticket != nil && p.CanAct {
		users, err := s.opts.Panel.Users(ctx, a.Tenant)
		if err != nil {
			return views.Panel{}, err
		}
		for _, u := range users {
			if u.DisabledAt.IsZero() {
				p.Agents = append(p.Agents, views.Agent{Email: u.Email, Name: u.Name, Role: u.Role})
			}
		}
	}
	_, canConnect := s.opts.CRM.(crm.Authorizer)
	switch {
	case f.CRMError == nil:
	case errors.Is(f.CRMError, crm.ErrNotConnected) && canConnect:
		p.CRMConnect = "/sidebar/crm/connect?return=" + url.QueryEscape("/sidebar?"+pc.Query())
		p.CRMName = crmName(s.opts.CRM.Name())
	default:
		s.log.LogAttrs(ctx, slog.LevelError, "sidebar: CRM look-up failed", slog.String("error", f.CRMError.Error()))
		p.Error = "The CRM did not answer; its records are missing below."
	}
	linked := map[string]bool{}
	labels := map[string]string{}
	add := func(obj crm.Object, kind, id, label string) {
		key := string(obj) + ":" + id
		labels[key] = kind + ": " + label
		p.Choices = append(p.Choices, views.Choice{Key: key, Kind: kind, Label: label})
	}
	for _, c := range f.Match.Contacts {
		label := views.PersonName(c.FirstName, c.LastName, c.Email)
		if acc := p.AccountName(c.AccountID); acc != "" {
			label += " (" + acc + ")"
		}
		add(crm.ObjContact, "Contact", c.ID, label)
	}
	for _, l := range f.Match.Leads {
		add(crm.ObjLead, "Lead", l.ID, views.PersonName(l.FirstName, l.LastName, l.Email))
	}
	for _, acc := range f.Match.Accounts {
		add(crm.ObjAccount, "Account", acc.ID, acc.Name)
	}
	for _, o := range f.Match.Opportunities {
		add(crm.ObjOpportunity, "Opportunity", o.ID, o.Name)
	}
	for _, c := range f.Match.Cases {
		add(crm.ObjCase, "Case", c.ID, c.Subject)
	}
	for _, l := range f.Links {
		key := string(l.Record.Object) + ":" + l.Record.ID
		if linked[key] {
			continue
		}
		linked[key] = true
		label, ok := labels[key]
		if !ok {
			label = objectKind(l.Record.Object) + " " + l.Record.ID
		}
		p.Links = append(p.Links, views.LinkView{Key: key, Label: label, By: l.CreatedBy, At: l.CreatedAt})
	}
	for i := range p.Choices {
		p.Choices[i].Linked = linked[p.Choices[i].Key]
	}
	return p, nil
}

// objectKind is the display name of a CRM object.
func objectKind(o crm.Object) string {
	switch o {
	case crm.ObjAccount:
		return "Account"
	case crm.ObjContact:
		return "Contact"
	case crm.ObjLead:
		return "Lead"
	case crm.ObjOpportunity:
		return "Opportunity"
	case crm.ObjCase:
		return "Case"
	case crm.ObjCampaign:
		return "Campaign"
	}
	return string(o)
}

// editableValues are the stages and statuses the agent may set, when
// their CRM user may edit those fields (describes in parallel, cached by
// the connector); nil when not, or when the CRM does not say.
func (s *Server) editableValues(ctx context.Context, tenant string, ed crm.RecordEditor, opps, cases bool) (stages, statuses []string) {
	values := func(obj crm.Object, field string) []string {
		fs, err := ed.Fields(ctx, tenant, obj)
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "sidebar: CRM describe failed", slog.String("object", string(obj)), slog.String("error", err.Error()))
			return nil
		}
		for _, f := range fs {
			if f.Name == field && f.Updateable {
				return f.Picklist
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	if opps {
		wg.Go(func() { stages = values(crm.ObjOpportunity, "StageName") })
	}
	if cases {
		wg.Go(func() { statuses = values(crm.ObjCase, "Status") })
	}
	wg.Wait()
	return stages, statuses
}

// formOwn are the fields the create forms ask for themselves (or the
// connector fills), by Salesforce's names and by the local CRM's.
var formOwn = map[string]bool{"FirstName": true, "LastName": true, "Email": true, "Title": true, "AccountId": true,
	"Company": true, "Status": true, "OwnerId": true, "Name": true,
	"first_name": true, "last_name": true, "email": true, "title": true, "account_id": true, "company": true, "status": true}

// requiredExtras are the fields the CRM requires on a new contact and
// lead that the forms do not ask for (custom required fields), from the
// agent's describe of each, read in parallel.
func (s *Server) requiredExtras(ctx context.Context, tenant string, ed crm.RecordEditor) (contact, lead []views.FormField) {
	extras := func(obj crm.Object) []views.FormField {
		fs, err := ed.Fields(ctx, tenant, obj)
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "sidebar: CRM describe failed", slog.String("object", string(obj)), slog.String("error", err.Error()))
			return nil
		}
		var out []views.FormField
		for _, f := range fs {
			if f.Required && f.Createable && !f.Defaulted && !formOwn[f.Name] && f.Type != "reference" && len(out) < 10 {
				out = append(out, views.FormField{Name: f.Name, Label: f.Label, Options: f.Picklist})
			}
		}
		return out
	}
	var wg sync.WaitGroup
	wg.Go(func() { contact = extras(crm.ObjContact) })
	wg.Go(func() { lead = extras(crm.ObjLead) })
	wg.Wait()
	return contact, lead
}
