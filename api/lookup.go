package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/ticket"
)

// LookupFunc answers GET /api/v1/lookup for a tenant from the request's
// query (email, message_id, ticket): the agent panel's facts (package
// sidebar's Lookup, converted). An error wrapping ticket.ErrInvalid
// answers 400 with its message.
type LookupFunc func(ctx context.Context, tenant string, q url.Values) (LookupFacts, error)

// LookupFacts is what is known of an email: the captured message and its
// ticket, the customer's recent messages and other tickets, the CRM match
// and the records the mail was saved to.
type LookupFacts struct {
	Email    string
	Message  *ticket.Message // nil when the email was not captured
	Ticket   *ticket.Ticket  // nil when it is on no ticket
	Recent   []ticket.Message
	Others   []ticket.Ticket
	Match    crm.Match
	Links    []crm.Link
	CRMError error // the CRM failed: the rest is still there
}

// lookup serves GET /api/v1/lookup?email=&message_id=[&ticket=]: what the
// agent panel shows, for integrations (Options.Lookup).
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	f, err := s.opts.Lookup(r.Context(), tenantOf(r), r.URL.Query())
	if err != nil {
		s.writeStoreError(w, r, "ticket", err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.lookupJSON(f))
}

// lookupJSON is GET /api/v1/lookup: the panel's facts as JSON.
type lookupJSON struct {
	Email          string            `json:"email"`
	FreeMail       bool              `json:"free_mail"`
	Contacts       []contactJSON     `json:"contacts"`
	Leads          []leadJSON        `json:"leads"`
	Accounts       []accountJSON     `json:"accounts"`
	Opportunities  []opportunityJSON `json:"opportunities"`
	Cases          []caseJSON        `json:"cases"`
	Links          []linkJSON        `json:"links"`
	Message        *messageJSON      `json:"message"` // null when the email was not captured
	Ticket         *ticketJSON       `json:"ticket"`  // null when it is on no ticket
	RecentMessages []messageJSON     `json:"recent_messages"`
	OtherTickets   []ticketJSON      `json:"other_tickets"`
	// CRMError is set when the CRM failed; the other facts are still there.
	CRMError string `json:"crm_error,omitempty"`
	// CRMNotice is what to know about the CRM itself (its API budget).
	CRMNotice string `json:"crm_notice,omitempty"`
}

type contactJSON struct {
	ID         string   `json:"id"`
	Source     string   `json:"source"`
	ExternalID string   `json:"external_id"`
	FirstName  string   `json:"first_name"`
	LastName   string   `json:"last_name"`
	Email      string   `json:"email"`
	Emails     []string `json:"emails"`
	Phone      string   `json:"phone"`
	Title      string   `json:"title"`
	AccountID  string   `json:"account_id"`
	URL        string   `json:"url,omitempty"` // the record in the CRM's own UI
}

type leadJSON struct {
	ID         string `json:"id"`
	Source     string `json:"source"`
	ExternalID string `json:"external_id"`
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	Email      string `json:"email"`
	Company    string `json:"company"`
	Status     string `json:"status"`
	URL        string `json:"url,omitempty"`
}

type accountJSON struct {
	ID            string   `json:"id"`
	Source        string   `json:"source"`
	ExternalID    string   `json:"external_id"`
	Name          string   `json:"name"`
	Website       string   `json:"website"`
	Domains       []string `json:"domains"`
	Type          string   `json:"type"`
	Tier          string   `json:"tier"`
	Industry      string   `json:"industry"`
	AnnualRevenue float64  `json:"annual_revenue"`
	Owner         string   `json:"owner"`
	URL           string   `json:"url,omitempty"`
}

type opportunityJSON struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Stage     string  `json:"stage"`
	Amount    float64 `json:"amount"`
	CloseDate *string `json:"close_date"` // YYYY-MM-DD, null when unknown
	AccountID string  `json:"account_id"`
	URL       string  `json:"url,omitempty"`
}

type caseJSON struct {
	ID        string `json:"id"`
	Subject   string `json:"subject"`
	Status    string `json:"status"`
	TicketID  int64  `json:"ticket_id,omitempty"`
	AccountID string `json:"account_id"`
	ContactID string `json:"contact_id"`
	URL       string `json:"url,omitempty"`
}

type linkJSON struct {
	ID           string `json:"id"`
	Object       string `json:"object"`
	RecordID     string `json:"record_id"`
	MessageID    int64  `json:"message_id,omitempty"`
	TicketID     int64  `json:"ticket_id,omitempty"`
	RFCMessageID string `json:"rfc_message_id,omitempty"`
	CreatedBy    string `json:"created_by"`
	CreatedAt    string `json:"created_at"`
}

func (s *Server) lookupJSON(f LookupFacts) lookupJSON {
	out := lookupJSON{
		Email: f.Email, FreeMail: f.Match.FreeMail,
		Contacts: []contactJSON{}, Leads: []leadJSON{}, Accounts: []accountJSON{},
		Opportunities: []opportunityJSON{}, Cases: []caseJSON{}, Links: []linkJSON{},
		RecentMessages: []messageJSON{}, OtherTickets: []ticketJSON{},
	}
	out.CRMNotice = f.Match.Notice
	switch {
	case f.CRMError == nil:
	case errors.Is(f.CRMError, crm.ErrNotConnected):
		out.CRMError = "the CRM is read through an agent's own connection, and API tokens have none: set crm.service_agent to an agent who has connected in the panel"
	case errors.Is(f.CRMError, crm.ErrUnavailable):
		out.CRMError = "the CRM is over its API request limit; try again in a few minutes"
	default:
		out.CRMError = "the CRM did not answer"
	}
	for _, c := range f.Match.Contacts {
		out.Contacts = append(out.Contacts, contactJSON{ID: c.ID, Source: c.Source, ExternalID: c.ExternalID,
			FirstName: c.FirstName, LastName: c.LastName, Email: c.Email, Emails: nonNil(c.Emails),
			Phone: c.Phone, Title: c.Title, AccountID: c.AccountID, URL: c.URL})
	}
	for _, l := range f.Match.Leads {
		out.Leads = append(out.Leads, leadJSON{ID: l.ID, Source: l.Source, ExternalID: l.ExternalID,
			FirstName: l.FirstName, LastName: l.LastName, Email: l.Email, Company: l.Company, Status: l.Status, URL: l.URL})
	}
	for _, a := range f.Match.Accounts {
		out.Accounts = append(out.Accounts, accountJSON{ID: a.ID, Source: a.Source, ExternalID: a.ExternalID,
			Name: a.Name, Website: a.Website, Domains: nonNil(a.Domains), Type: a.Type, Tier: a.Tier,
			Industry: a.Industry, AnnualRevenue: a.AnnualRevenue, Owner: a.Owner, URL: a.URL})
	}
	for _, o := range f.Match.Opportunities {
		oj := opportunityJSON{ID: o.ID, Name: o.Name, Stage: o.Stage, Amount: o.Amount, AccountID: o.AccountID, URL: o.URL}
		if !o.CloseDate.IsZero() {
			d := o.CloseDate.UTC().Format(time.DateOnly)
			oj.CloseDate = &d
		}
		out.Opportunities = append(out.Opportunities, oj)
	}
	for _, c := range f.Match.Cases {
		out.Cases = append(out.Cases, caseJSON{ID: c.ID, Subject: c.Subject, Status: c.Status,
			TicketID: c.TicketID, AccountID: c.AccountID, ContactID: c.ContactID, URL: c.URL})
	}
	for _, l := range f.Links {
		out.Links = append(out.Links, linkJSON{ID: l.ID, Object: string(l.Record.Object), RecordID: l.Record.ID,
			MessageID: l.MessageID, TicketID: l.TicketID, RFCMessageID: l.RFCMessageID,
			CreatedBy: l.CreatedBy, CreatedAt: fmtTime(l.CreatedAt)})
	}
	if f.Message != nil {
		m := s.messageJSON(*f.Message)
		out.Message = &m
	}
	if f.Ticket != nil {
		t := s.ticketJSON(*f.Ticket)
		out.Ticket = &t
	}
	for _, m := range f.Recent {
		out.RecentMessages = append(out.RecentMessages, s.messageJSON(m))
	}
	for _, t := range f.Others {
		out.OtherTickets = append(out.OtherTickets, s.ticketJSON(t))
	}
	return out
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
