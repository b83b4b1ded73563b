package sidebar

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/sidebar/views"
	"github.com/sidedesk/sidedesk/ticket"
)

// Every action is a POST (CSRF-checked by requireAgent) carrying the panel
// context. Without JavaScript it answers 303 back to the panel (post,
// redirect, get: a reload does not repeat it); with htmx (HX-Request) it
// answers the re-rendered fragment the form targets.

// action runs do and answers. fragment is the templ fragment htmx swaps
// ("panel", "crm", "ticket"); done the flash key of the redirect.
func (s *Server) action(w http.ResponseWriter, r *http.Request, fragment, done string,
	do func(a Agent, pc *views.Context) error) {
	a, _ := AgentFrom(r.Context())
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	}
	if err := r.ParseForm(); err != nil {
		s.htmlError(w, r, http.StatusBadRequest, "The form could not be read.", err)
		return
	}
	pc, err := panelContext(r.PostForm.Get)
	if err != nil {
		s.htmlError(w, r, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "invalid "), err)
		return
	}
	actErr := do(a, &pc)
	htmx := r.Header.Get("HX-Request") == "true"
	if actErr == nil && !htmx {
		http.Redirect(w, r, pc.URL("/sidebar", "done", done), http.StatusSeeOther)
		return
	}
	status, msg := s.actionError(r, actErr)
	if status >= 500 {
		s.htmlError(w, r, status, msg, actErr)
		return
	}
	p, err := s.buildPanel(r.Context(), a, pc)
	if err != nil {
		s.panelLoadError(w, r, err)
		return
	}
	if actErr != nil {
		p.Error = msg
		s.log.DebugContext(r.Context(), "sidebar: action refused", "path", r.URL.Path, "error", actErr)
	} else {
		p.Flash = doneMessages[done]
	}
	if fragment != "panel" {
		p.NoteAt = fragment
	}
	if htmx {
		// 200 even for a refused action: htmx swaps only 2xx answers,
		// and the fragment carries the error message.
		s.renderFragments(w, r, views.PanelBody(p), fragment)
		return
	}
	s.renderHTML(w, r, status, views.PanelPage(p))
}

// actionError maps an action's error to a status and a message for the
// agent (never the internal cause).
func (s *Server) actionError(r *http.Request, err error) (int, string) {
	switch {
	case err == nil:
		return http.StatusOK, ""
	case errors.Is(err, ticket.ErrInvalid):
		msg := err.Error()
		if i := strings.Index(msg, "invalid "); i >= 0 {
			msg = msg[i+len("invalid "):]
		}
		return http.StatusUnprocessableEntity, "Not saved: " + msg + "."
	case errors.Is(err, crm.ErrUnknownAccount), errors.Is(err, crm.ErrMissingField), errors.Is(err, crm.ErrBadEmail),
		errors.Is(err, crm.ErrAmbiguous), errors.Is(err, crm.ErrUnknownRecord), errors.Is(err, crm.ErrRefused):
		// The CRM refused the record: say which field and why.
		var re crm.RecordError
		if errors.As(err, &re) && re.Field != "" {
			return http.StatusUnprocessableEntity, fmt.Sprintf("Not saved: %s: %v.", re.Field, re.Err)
		}
		return http.StatusUnprocessableEntity, "Not saved: the CRM refused the record."
	case errors.Is(err, ticket.ErrNotFound), errors.Is(err, crm.ErrNotFound):
		return http.StatusNotFound, "Not saved: the record or ticket no longer exists."
	case errors.Is(err, crm.ErrNotConnected):
		return http.StatusConflict, "Not saved: connect your " + crmName(s.opts.CRM.Name()) + " account first (the link above)."
	case errors.Is(err, crm.ErrUnsupported):
		return http.StatusUnprocessableEntity, "Not available with " + crmName(s.opts.CRM.Name()) + " yet."
	case errors.Is(err, crm.ErrUnavailable):
		return http.StatusServiceUnavailable, "Not saved: " + crmName(s.opts.CRM.Name()) + " is over its API limit; try again in a few minutes."
	case errors.Is(err, errNoActions):
		return http.StatusMethodNotAllowed, "This panel is read-only."
	default:
		return http.StatusInternalServerError, "Not saved: something went wrong; try again."
	}
}

var errNoActions = errors.New("sidebar: no actions configured")

// invalid makes an ErrInvalid error for the agent.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w "+format, append([]any{ticket.ErrInvalid}, args...)...)
}

// actLink files the email (and its ticket) under one CRM record.
func (s *Server) actLink(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, "crm", "linked", func(a Agent, pc *views.Context) error {
		if s.opts.CRM == nil {
			return invalid("no CRM is connected")
		}
		obj, id, ok := strings.Cut(r.PostForm.Get("record"), ":")
		switch crm.Object(obj) {
		case crm.ObjAccount, crm.ObjContact, crm.ObjLead, crm.ObjOpportunity, crm.ObjCase:
		default:
			ok = false
		}
		if !ok || id == "" || len(id) > 64 {
			return invalid("choose a record to save the email to")
		}
		f, err := s.gather(r.Context(), a.Tenant, *pc)
		if err != nil {
			return err
		}
		l := crm.Link{
			Tenant: a.Tenant, Record: crm.Ref{Object: crm.Object(obj), ID: id},
			RFCMessageID: pc.MessageID, CreatedBy: a.Email,
		}
		if f.Message != nil {
			l.MessageID = f.Message.ID
			l.Email = emailOf(f.Message)
		} else if pc.MessageID != "" || pc.From != "" {
			// Not captured: what the mail client told the panel.
			l.Email = &crm.Email{MessageID: pc.MessageID, Subject: pc.Subject, From: crm.Address{Email: pc.From}, Incoming: true}
		}
		if f.Ticket != nil {
			l.TicketID = f.Ticket.ID
		}
		if l.MessageID == 0 && l.TicketID == 0 && l.RFCMessageID == "" {
			return invalid("there is no email or ticket to save")
		}
		_, err = s.opts.CRM.Link(r.Context(), l)
		return err
	})
}

// actCreateTicket opens a ticket for an email capture has not stored.
func (s *Server) actCreateTicket(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, "panel", "ticket", func(a Agent, pc *views.Context) error {
		if s.opts.Actions == nil {
			return errNoActions
		}
		if pc.From == "" {
			return invalid("the email has no sender address")
		}
		t, err := s.opts.Actions.CreateFromPanel(r.Context(), a.Tenant, ticket.NewTicket{
			RFCMessageID: pc.MessageID, Subject: pc.Subject, Requester: ticket.Address{Email: pc.From},
			Priority: ticket.Priority(r.PostForm.Get("priority")), Actor: a.Email,
		})
		if err != nil {
			return err
		}
		if pc.MessageID == "" {
			pc.Ticket = t.Number // nothing else would find it again
		}
		return nil
	})
}

// formTicketID reads the id field of a ticket form.
func formTicketID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PostForm.Get("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, invalid("ticket id %q", r.PostForm.Get("id"))
	}
	return id, nil
}

// actUpdateTicket sets status, priority and assignee.
func (s *Server) actUpdateTicket(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, "ticket", "updated", func(a Agent, pc *views.Context) error {
		if s.opts.Actions == nil {
			return errNoActions
		}
		id, err := formTicketID(r)
		if err != nil {
			return err
		}
		ch := ticket.Change{Actor: a.Email}
		if v, ok := r.PostForm["status"]; ok {
			st := ticket.Status(v[0])
			ch.Status = &st
		}
		if v, ok := r.PostForm["priority"]; ok {
			pr := ticket.Priority(v[0])
			ch.Priority = &pr
		}
		if v, ok := r.PostForm["assignee"]; ok {
			as := strings.TrimSpace(v[0])
			ch.Assignee = &as
		}
		if r.PostForm.Get("assign_me") != "" {
			me := a.Email
			ch.Assignee = &me
		}
		_, err = s.opts.Actions.Update(r.Context(), a.Tenant, id, ch)
		return err
	})
}

// actReply sends the agent's reply to the customer and sets the ticket's
// status (default pending).
func (s *Server) actReply(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, "ticket", "reply", func(a Agent, pc *views.Context) error {
		if s.opts.Replies == nil {
			return invalid("reply: no mailbox sends mail (set smtp_host on a [[mailbox]])")
		}
		id, err := formTicketID(r)
		if err != nil {
			return err
		}
		req := ticket.ReplyRequest{BodyText: r.PostForm.Get("reply"), Actor: a.Email, Quote: r.PostForm.Get("quote") != ""}
		if strings.TrimSpace(req.BodyText) == "" && r.PostForm.Get("macro") != "" {
			// Without JavaScript the picked macro is not in the box: it
			// is the reply.
			if req.BodyText, err = s.macroText(r, a, id, r.PostForm.Get("macro")); err != nil {
				return err
			}
		}
		if v := r.PostForm.Get("status"); v != "" {
			st := ticket.Status(v)
			if !st.Valid() {
				return invalid("status %q", v)
			}
			req.StatusAfter = &st
		}
		_, err = s.opts.Replies.Reply(r.Context(), a.Tenant, id, req)
		return err
	})
}

// actNote adds an internal note to the ticket.
func (s *Server) actNote(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, "ticket", "note", func(a Agent, pc *views.Context) error {
		if s.opts.Actions == nil {
			return errNoActions
		}
		id, err := formTicketID(r)
		if err != nil {
			return err
		}
		_, err = s.opts.Actions.AddNote(r.Context(), a.Tenant, id, a.Email, r.PostForm.Get("note"))
		return err
	})
}

// names reads and bounds the name fields of a create form.
func names(r *http.Request) (first, last string, err error) {
	first = strings.TrimSpace(r.PostForm.Get("first_name"))
	last = strings.TrimSpace(r.PostForm.Get("last_name"))
	if last == "" {
		return "", "", invalid("last name is required")
	}
	if len(first) > 200 || len(last) > 200 {
		return "", "", invalid("name longer than 200 characters")
	}
	return first, last, nil
}

// createRecord runs create for an unknown sender with the names of the
// form ("contact" or "lead" is also the flash key).
func (s *Server) createRecord(w http.ResponseWriter, r *http.Request, kind string,
	create func(ctx context.Context, a Agent, email, first, last string) error) {
	s.action(w, r, "panel", kind, func(a Agent, pc *views.Context) error {
		if s.opts.CRM == nil {
			return invalid("no CRM is connected")
		}
		if pc.From == "" {
			return invalid("the email has no sender address")
		}
		first, last, err := names(r)
		if err != nil {
			return err
		}
		return create(r.Context(), a, pc.From, first, last)
	})
}

// actCreateContact adds the unknown sender to the CRM as a contact.
func (s *Server) actCreateContact(w http.ResponseWriter, r *http.Request) {
	s.createRecord(w, r, "contact", func(ctx context.Context, a Agent, email, first, last string) error {
		_, err := s.opts.CRM.CreateContact(ctx, crm.Contact{
			Meta:      crm.Meta{Tenant: a.Tenant, Source: "local"},
			FirstName: first, LastName: last, Email: email,
			Title:     strings.TrimSpace(r.PostForm.Get("title")),
			AccountID: strings.TrimSpace(r.PostForm.Get("account_id")),
			Custom:    customFields(r),
		})
		return err
	})
}

// actCreateLead adds the unknown sender to the CRM as a lead.
func (s *Server) actCreateLead(w http.ResponseWriter, r *http.Request) {
	s.createRecord(w, r, "lead", func(ctx context.Context, a Agent, email, first, last string) error {
		_, err := s.opts.CRM.CreateLead(ctx, crm.Lead{
			Meta:      crm.Meta{Tenant: a.Tenant, Source: "local"},
			FirstName: first, LastName: last, Email: email,
			Company: strings.TrimSpace(r.PostForm.Get("company")), Status: "Open",
			Custom: customFields(r),
		})
		return err
	})
}

// emailOf is a captured message as a CRM connector saves it.
func emailOf(m *ticket.Message) *crm.Email {
	addrs := func(as []ticket.Address) []crm.Address {
		out := make([]crm.Address, 0, len(as))
		for _, a := range as {
			out = append(out, crm.Address{Name: a.Name, Email: a.Email})
		}
		return out
	}
	e := &crm.Email{MessageID: m.MessageID, Subject: m.Subject, From: crm.Address{Name: m.From.Name, Email: m.From.Email},
		To: addrs(m.To), Cc: addrs(m.Cc), Date: m.Date, Text: m.Text, HTML: m.HTML,
		Incoming: m.Direction == ticket.DirectionInbound}
	for _, a := range m.Attachments {
		if !a.Inline {
			e.Attachments = append(e.Attachments, crm.EmailAttachment{Filename: a.Filename, ContentType: a.ContentType, SHA256: a.SHA256, Size: a.Size})
		}
	}
	return e
}

// editable are the record fields the panel edits in place.
var editable = map[crm.Object]string{crm.ObjOpportunity: "StageName", crm.ObjCase: "Status"}

// actUpdateRecord sets one field of a CRM record (an opportunity's stage,
// a case's status) as the agent.
func (s *Server) actUpdateRecord(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, "panel", "record", func(a Agent, pc *views.Context) error {
		obj, id, ok := strings.Cut(r.PostForm.Get("record"), ":")
		field := r.PostForm.Get("field")
		if !ok || id == "" || len(id) > 64 || editable[crm.Object(obj)] == "" || editable[crm.Object(obj)] != field {
			return invalid("choose an opportunity's stage or a case's status to set")
		}
		value := strings.TrimSpace(r.PostForm.Get("value"))
		return s.opts.CRM.(crm.RecordEditor).Update(r.Context(), a.Tenant, crm.Ref{Object: crm.Object(obj), ID: id}, map[string]string{field: value})
	})
}

// actConvertLead converts a lead in the CRM, as the agent.
func (s *Server) actConvertLead(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, "panel", "converted", func(a Agent, pc *views.Context) error {
		lead := strings.TrimSpace(r.PostForm.Get("lead"))
		opp := strings.TrimSpace(r.PostForm.Get("opportunity"))
		if lead == "" || len(lead) > 64 {
			return invalid("choose a lead to convert")
		}
		if len(opp) > 120 {
			return invalid("opportunity name longer than 120 characters")
		}
		_, err := s.opts.CRM.(crm.LeadConverter).ConvertLead(r.Context(), a.Tenant, crm.Conversion{
			LeadID: lead, AccountID: strings.TrimSpace(r.PostForm.Get("account_id")), OpportunityName: opp})
		return err
	})
}

// customFields are a create form's describe-built inputs ("f_" + the
// field's API name); the connector checks each against the describe.
func customFields(r *http.Request) map[string]string {
	return postedFields(r, 30, 1000)
}

func truncateRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// macroText renders the macro picked in the reply box for ticket id.
func (s *Server) macroText(r *http.Request, a Agent, id int64, pick string) (string, error) {
	i, err := strconv.Atoi(pick)
	if err != nil || i < 0 || i >= len(s.macros) {
		return "", invalid("macro %q: no such canned reply", pick)
	}
	t, err := s.opts.Panel.Ticket(r.Context(), a.Tenant, id)
	if err != nil {
		return "", err
	}
	for _, m := range s.renderMacros(t, a) {
		if m.ID == i {
			return m.Text, nil
		}
	}
	return "", invalid("macro %q does not render for this ticket", s.macros[i].name)
}

// threadPage serves GET /sidebar/thread?ticket=ID&before=MSG: the page of
// the ticket's messages before MSG (the panel shows the latest ones).
func (s *Server) threadPage(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	q := r.URL.Query()
	id, err1 := strconv.ParseInt(q.Get("ticket"), 10, 64)
	before, err2 := strconv.ParseInt(q.Get("before"), 10, 64)
	if err1 != nil || err2 != nil || id <= 0 || before <= 0 {
		s.htmlError(w, r, http.StatusBadRequest, "The thread link is incomplete (ticket and before are numbers); open the thread from the panel.", nil)
		return
	}
	t, err := s.opts.Panel.Ticket(r.Context(), a.Tenant, id)
	if errors.Is(err, ticket.ErrNotFound) {
		s.htmlError(w, r, http.StatusNotFound, "There is no such ticket.", nil)
		return
	}
	if err != nil {
		s.htmlError(w, r, http.StatusInternalServerError, "The ticket could not be read; try again.", err)
		return
	}
	msgs, err := s.opts.Panel.MessagesBefore(r.Context(), a.Tenant, id, before, recentMessages)
	if err != nil {
		s.htmlError(w, r, http.StatusInternalServerError, "The thread could not be read; try again.", err)
		return
	}
	v := views.Thread{Page: views.Page{Title: "Thread · sidedesk", CSRF: a.CSRF, AssetBase: assetBase}, Ticket: t, Messages: msgs}
	if len(msgs) == recentMessages {
		v.Earlier = views.ThreadURL(id, msgs[0].ID)
	}
	s.renderHTML(w, r, http.StatusOK, views.ThreadPage(v))
}
