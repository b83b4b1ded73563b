// Package views holds the agent panel's HTML: a-h/templ components and the
// view models the sidebar handlers fill. Everything shown is escaped by
// templ; email HTML only ever goes into a sandboxed iframe's srcdoc.
package views

// The *_templ.go files are generated from the repository root (`make
// generate`, which runs `go tool templ generate`), so that templ's
// documented CI check, the same command followed by `git diff
// --exit-code`, changes nothing. Commit them.

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/ticket"
)

// Page is what every page's layout needs.
type Page struct {
	Title string
	// CSRF is the session's synchronizer token, sent by htmx as the
	// X-CSRF-Token header and by plain forms as the csrf_token field.
	CSRF string
	// AssetBase is the path the static assets are served under.
	AssetBase string
}

// Agent is the signed-in agent.
type Agent struct {
	Email string
	Name  string
	Role  string
}

// Login is the sign-in page.
type Login struct {
	Page
	Next   string // where to go after signing in (a local path)
	Tenant string
	Email  string
	Error  string
}

// Context says which email or ticket the panel is about; it is carried in
// every form so that an action comes back to the same panel.
type Context struct {
	MessageID string // RFC 5322 Message-ID, without angle brackets
	From      string // sender address, normalised
	Subject   string
	Ticket    int64 // ticket number, when opened with ?ticket=N
}

// Query renders the context as the /sidebar query string.
func (c Context) Query() string {
	v := url.Values{}
	if c.MessageID != "" {
		v.Set("message_id", c.MessageID)
	}
	if c.From != "" {
		v.Set("from", c.From)
	}
	if c.Subject != "" {
		v.Set("subject", c.Subject)
	}
	if c.Ticket != 0 {
		v.Set("ticket", strconv.FormatInt(c.Ticket, 10))
	}
	return v.Encode()
}

// LinkView is one saved link of the email or its ticket to a CRM record.
type LinkView struct {
	Key   string // "opportunity:12"
	Label string // "Opportunity: Globex renewal 2027"
	By    string
	At    time.Time
}

// Choice is one record the email can be saved to.
type Choice struct {
	Key    string // "object:id", the form value
	Kind   string // "Contact", "Account", ...
	Label  string
	Linked bool
}

// Panel is the sidebar beside one email (or ticket).
type Panel struct {
	Page
	Agent Agent
	Ctx   Context
	// Email is the sender's address the CRM was asked about.
	Email string
	// HasCRM is false when no CRM connector is configured.
	HasCRM bool
	// CRMConnect, when set, is the link that connects the agent's own CRM
	// account (Salesforce): they have not connected it yet, or the CRM
	// revoked it. CRMName names the CRM ("Salesforce").
	CRMConnect string
	CRMName    string
	// OppStages and CaseStatuses, when set, are the values the agent may
	// set on an opportunity's stage and a case's status in place.
	OppStages    []string
	CaseStatuses []string
	// ContactExtra and LeadExtra are the fields the CRM requires on a new
	// contact or lead beyond the form's own (from the agent's describe).
	ContactExtra, LeadExtra []FormField
	// CanConvert offers to convert leads (the CRM converts them).
	CanConvert bool
	// CanEdit links each record to its describe-built form and offers
	// find and new (RecordForms).
	CanEdit bool
	// CanAct is false when the server has no ticket actions (read-only).
	CanAct bool
	// CanReply shows the reply box (a mailbox sends mail).
	CanReply bool
	// Agents are the tenant's active agents: the assignee picker.
	Agents []Agent
	// MoreThread: the thread has (may have) messages before Recent.
	MoreThread bool
	// Macros are the canned replies, rendered for this ticket and agent.
	Macros []Macro
	Match  crm.Match
	// Choices are the records the email can be saved to; Links what it is
	// saved to already.
	Choices []Choice
	Links   []LinkView
	// Message is the captured email, when capture stored it.
	Message *ticket.Message
	// Ticket is the ticket the email belongs to; Recent its last messages
	// (oldest first) and Others the sender's other recent tickets.
	Ticket *ticket.Ticket
	Recent []ticket.Message
	Others []ticket.Ticket
	// Flash is a success note, Error a failure to show.
	Flash string
	Error string
	// NoteAt is the section ("crm", "ticket") that shows Flash and Error,
	// the one an htmx action swaps; "" shows them at the top.
	NoteAt string
	Now    time.Time
}

// AccountName returns the name of the matched account with this id, or "".
func (p Panel) AccountName(id string) string {
	for _, a := range p.Match.Accounts {
		if a.ID == id {
			return a.Name
		}
	}
	return ""
}

// Statuses and Priorities are the choices of the ticket form.
var (
	Statuses   = []ticket.Status{ticket.StatusNew, ticket.StatusOpen, ticket.StatusPending, ticket.StatusSolved, ticket.StatusClosed}
	Priorities = []ticket.Priority{ticket.PriorityLow, ticket.PriorityNormal, ticket.PriorityHigh, ticket.PriorityUrgent}
)

// Money formats an amount with thousands separators and no fraction
// ("1,250,000"); the CRM's currency is the org's.
func Money(v float64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := strconv.FormatFloat(v, 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Day formats a date ("2026-12-15"); the zero time is "—".
func Day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02")
}

// When formats a time for the panel ("2026-11-16 06:42 UTC").
func When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// Snippet shortens text to at most n runes at a word boundary.
func Snippet(s string, n int) string {
	s = strings.TrimSpace(s)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n])
	if i := strings.LastIndexAny(cut, " \n\t"); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimSpace(cut) + " …"
}

// PersonName joins first and last name, falling back to the email.
func PersonName(first, last, email string) string {
	n := strings.TrimSpace(first + " " + last)
	if n == "" {
		return email
	}
	return n
}

// TicketURL is the panel of ticket number n.
func TicketURL(n int64) string { return fmt.Sprintf("/sidebar?ticket=%d", n) }

// FromLabel names a message's author.
func FromLabel(m ticket.Message) string {
	if m.From.Name != "" {
		return m.From.Name
	}
	if m.From.Email != "" {
		return m.From.Email
	}
	return "(unknown)"
}

// FormField is one input of a form built from the CRM's describe: its
// API name (posted as "f_" + Name), label, and a picklist's values.
type FormField struct {
	Name, Label string
	Options     []string
}

// Consent is the OAuth consent page.
type Consent struct {
	Page
	ID           string
	ClientName   string
	AgentEmail   string
	RedirectHost string
	Scopes       []ScopeLine
	Offline      bool
	// Dropped says which asked scope the agent cannot grant (admin for a
	// non-admin); "" when none.
	Dropped string
}

// ScopeLine is one scope and what it allows.
type ScopeLine struct{ Name, Text string }

// Mailboxes is the admin's page of the mailboxes that log in by OAuth
// (XOAUTH2 at Microsoft 365 or Gmail): each one's state and a Connect
// button for those connected by consent.
type Mailboxes struct {
	Page
	Boxes []MailboxAuth
	// Done names the mailbox just connected ("" when none).
	Done string
}

// MailboxAuth is one mailbox's OAuth state.
type MailboxAuth struct {
	Name       string
	Grant      string // refresh_token | client_credentials
	OK         bool
	Error      string
	Refreshed  string // when a token was last got ("" never)
	CanConsent bool
}

// urlQuery escapes a query value.
func urlQuery(s string) string { return url.QueryEscape(s) }

// Macro is one canned reply of the reply box.
type Macro struct {
	ID   int
	Name string
	Text string
}

// Thread is a page of a ticket's earlier messages (GET /sidebar/thread).
type Thread struct {
	Page
	Ticket   ticket.Ticket
	Messages []ticket.Message
	// Earlier is the link to the page before this one ("" when this is
	// the first).
	Earlier string
}

// ThreadURL is the page of ticket id's messages before message before.
func ThreadURL(id, before int64) string {
	return "/sidebar/thread?ticket=" + strconv.FormatInt(id, 10) + "&before=" + strconv.FormatInt(before, 10)
}

// RecordForm is a CRM record's describe-built form (RecordPage).
type RecordForm struct {
	Page
	Ctx         Context // the email the agent came from
	Back        string  // the panel of that email
	CRMName     string  // "Salesforce"
	Object      string  // "contact"
	ObjectLabel string  // "Contact"
	ID          string  // "" for a new record
	Title       string  // the record's name
	URL         string  // the record in the CRM's own UI
	Action      string  // where the form posts
	Fields      []FormInput
	CanDelete   bool
	Error       string
	Flash       string
}

// FormInput is one field of a RecordForm.
type FormInput struct {
	Name     string // the CRM's field name ("LastName"); the input is "f_" + Name
	Label    string
	Kind     string // text, email, tel, url, number, date, datetime-local, checkbox, select, textarea
	Step     string // number inputs: "any" or "1"
	Value    string
	Options  []string
	Required bool
	ReadOnly bool
	Error    string // the CRM's refusal of this field
}

// RecordFind is the find-and-new page (FindPage).
type RecordFind struct {
	Page
	Ctx         Context
	Back        string
	CRMName     string
	Objects     []ObjectChoice
	Object      string
	ObjectLabel string
	Q           string
	Results     []FoundRecord
	Error       string
}

// ObjectChoice is one object the find page offers.
type ObjectChoice struct{ Object, Label string }

// FoundRecord is one result of a find.
type FoundRecord struct {
	Label string
	Sub   string // the record's account, email or status
	Edit  string // its form
}

// URL is path with the context's query and the extra key/value pairs
// (an empty value is left out): Context{From: "a@x"}.URL("/sidebar",
// "done", "deleted") is "/sidebar?done=deleted&from=a%40x".
func (c Context) URL(path string, kv ...string) string {
	v, _ := url.ParseQuery(c.Query())
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if q := v.Encode(); q != "" {
		return path + "?" + q
	}
	return path
}

// RecordURL is the form of one CRM record, with the context; done is the
// flash key of a redirect ("" for none).
func RecordURL(c Context, object, id, done string) string {
	return c.URL("/sidebar/crm/record", "object", object, "id", id, "done", done)
}

// EditURL is the form of one CRM record, opened from this panel.
func (p Panel) EditURL(object, id string) string { return RecordURL(p.Ctx, object, id, "") }

// FindURL is the find-and-new page, opened from this panel.
func (p Panel) FindURL() string { return p.Ctx.URL("/sidebar/crm/find") }
