// Package crm holds CRM records shaped like Salesforce's standard objects
// (Account, Contact, Lead, Opportunity, Case), so a connector maps them 1:1,
// and the Connector interface the sidebar uses to find the records behind
// an email address and to file emails against them.
//
// The local connector (embedded default, store.LocalCRM) keeps records in
// sidedesk's own database; this package holds what every connector shares:
// the records, the rules that normalise them (emails, domains, stages),
// and the CSV import, which writes through an Upserter. The Salesforce
// connector comes later and implements the same interface. IDs are strings
// at this boundary because Salesforce's are.
package crm

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a record does not exist in the tenant.
var ErrNotFound = errors.New("crm: not found")

// ErrNotConnected is returned (wrapped) by a connector that acts as the
// agent (Salesforce: per-agent OAuth) when the agent has not connected
// their CRM account, or the CRM revoked the connection: the panel offers
// to connect (Authorizer).
var ErrNotConnected = errors.New("crm: not connected")

// ErrUnsupported is returned (wrapped) for an operation the connector
// does not offer.
var ErrUnsupported = errors.New("crm: not supported by this connector")

// ErrUnavailable is returned (wrapped) when the CRM is out of reach for a
// while (Salesforce: the org's API request limit is spent).
var ErrUnavailable = errors.New("crm: temporarily unavailable")

// ErrConsentState is returned (wrapped) by Authorizer.Complete when the
// callback's state was not made for this agent, was altered, or expired.
var ErrConsentState = errors.New("crm: the consent's state is invalid or expired")

type agentKey struct{}

// WithAgent tells a connector which agent (email) it acts for: a
// connector with per-agent credentials reads and writes with that
// agent's own CRM permissions.
func WithAgent(ctx context.Context, email string) context.Context {
	return context.WithValue(ctx, agentKey{}, email)
}

// AgentFrom is the agent of WithAgent, or "".
func AgentFrom(ctx context.Context) string {
	s, _ := ctx.Value(agentKey{}).(string)
	return s
}

// Authorizer is implemented by connectors whose agents connect their own
// CRM account by an OAuth consent flow (the panel's "Connect Salesforce").
type Authorizer interface {
	// AuthorizeURL is where to send the agent's browser to consent;
	// returnTo (a local path) is where Complete sends them back.
	AuthorizeURL(ctx context.Context, tenant, agent, returnTo string) (string, error)
	// Complete takes the consent's answer (the callback's code and
	// state) and stores the agent's connection; it returns returnTo.
	Complete(ctx context.Context, tenant, agent, code, state string) (string, error)
}

// Connection is an agent's connection to their CRM account: whom the CRM
// knows them as and the sealed refresh token. The store keeps it.
type Connection struct {
	Tenant      string
	Agent       string // agent email
	Provider    string // "salesforce"
	InstanceURL string
	IdentityURL string
	UserID      string // the CRM's user id
	Username    string
	// RefreshSealed is the refresh token sealed with the secret key.
	RefreshSealed []byte
	// Status is "connected", or "disconnected" once the CRM refused the
	// refresh token (LastError says how).
	Status      string
	LastError   string
	ConnectedAt time.Time
	UpdatedAt   time.Time
}

// ConnectionStore keeps agents' CRM connections.
type ConnectionStore interface {
	// CRMConnection returns ErrNotFound when the agent has none.
	CRMConnection(ctx context.Context, tenant, agent, provider string) (Connection, error)
	PutCRMConnection(ctx context.Context, c Connection) error
	CRMConnections(ctx context.Context, provider string) ([]Connection, error)
}

// Object names a record type; the values are the import CLI's --object.
type Object string

// Record types.
const (
	ObjAccount     Object = "account"
	ObjContact     Object = "contact"
	ObjLead        Object = "lead"
	ObjOpportunity Object = "opportunity"
	ObjCase        Object = "case"
	ObjCampaign    Object = "campaign"
)

// Meta is what every record carries.
type Meta struct {
	ID     string // connector's id (local: decimal row id)
	Tenant string
	// Source and ExternalID say where a record came from ("local",
	// "salesforce", "csv") and its id there; the import upserts by them.
	Source     string
	ExternalID string
	// URL opens the record in the CRM's own UI (Salesforce Lightning);
	// empty for the local CRM.
	URL       string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Account is a customer organisation (Salesforce Account).
type Account struct {
	Meta
	Name          string
	Website       string
	Domains       []string // email domains that belong to it, lower-case
	Type          string   // e.g. Customer, Prospect, Partner
	Tier          string   // e.g. enterprise, business, starter
	Industry      string
	AnnualRevenue float64
	Owner         string // account owner's name or email
}

// Contact is a person at an account (Salesforce Contact).
type Contact struct {
	Meta
	FirstName string
	LastName  string
	Email     string   // primary, lower-case
	Emails    []string // other addresses, lower-case
	Phone     string
	Title     string
	AccountID string
	// AccountExternalID and AccountName are input only (imports, bulk
	// upserts): when AccountID is empty they name the account by its
	// ExternalID in the same Source, or by its exact (case-insensitive)
	// name. Reads leave them empty.
	AccountExternalID string
	AccountName       string
	// Custom are other fields by the CRM's API name, input only (the
	// panel's create form, built from the CRM's describe).
	Custom map[string]string
}

// Lead is a prospect not yet converted (Salesforce Lead).
type Lead struct {
	Meta
	FirstName string
	LastName  string
	Email     string
	Company   string
	Status    string // e.g. Open, Working, Qualified, Unqualified
	// Custom are other fields by the CRM's API name, input only.
	Custom map[string]string
}

// Opportunity is a deal with an account (Salesforce Opportunity).
type Opportunity struct {
	Meta
	Name      string
	Stage     string // e.g. Prospecting, Negotiation, Closed Won
	Amount    float64
	CloseDate time.Time
	AccountID string
	Closed    bool
	// AccountExternalID and AccountName are input only, as in Contact.
	AccountExternalID string
	AccountName       string
}

// Case is a support case in the CRM, linked to a sidedesk ticket.
type Case struct {
	Meta
	Subject   string
	Status    string
	TicketID  int64 // sidedesk ticket id; 0 if none
	AccountID string
	ContactID string
}

// Campaign is a marketing campaign (Salesforce's Campaign object).
type Campaign struct {
	Meta
	Name         string
	Status       string // Planned, In Progress, Completed, Aborted
	Type         string // Conference, Webinar, Email, …
	StartDate    time.Time
	EndDate      time.Time
	Active       bool
	BudgetedCost float64
	Description  string
}

// Ref names one record.
type Ref struct {
	Object Object
	ID     string
}

// Link files an email (and/or its ticket) against a record ("save to CRM").
type Link struct {
	ID        string
	Tenant    string
	Record    Ref
	MessageID int64 // sidedesk message id; 0 if the link is for the ticket
	TicketID  int64
	// RFCMessageID is the email's Message-ID, so an email not captured
	// (yet) can still be linked from the sidebar.
	RFCMessageID string
	CreatedBy    string // agent email
	CreatedAt    time.Time
	// ExternalID is the CRM's own id of the saved email (Salesforce: the
	// EmailMessage or Task); empty for the local CRM.
	ExternalID string
	// Email is the mail itself, for connectors that copy it into the CRM
	// (Salesforce); the local CRM keeps only the reference. Input only.
	Email *Email
}

// Email is the mail a Link saves into a CRM.
type Email struct {
	MessageID string // RFC 5322 Message-ID, without angle brackets
	Subject   string
	From      Address
	To, Cc    []Address
	Date      time.Time
	Text      string
	HTML      string // sanitised
	Incoming  bool   // from the customer (false: sent by an agent)
	// Attachments are the mail's files (not inline images), by blob.
	Attachments []EmailAttachment
}

// EmailAttachment is one file of an Email; its bytes are the blob named
// by SHA256.
type EmailAttachment struct {
	Filename, ContentType, SHA256 string
	Size                          int64
}

// Address is a mailbox in an Email.
type Address struct{ Name, Email string }

// FieldInfo is one field of a record type as the agent's own CRM user
// sees it (Salesforce describe: field-level security applied).
type FieldInfo struct {
	Name, Label, Type string
	Updateable        bool
	Createable        bool
	Required          bool     // must not be emptied
	Defaulted         bool     // the CRM fills it on create when not given
	Picklist          []string // the active values of a picklist
}

// RecordEditor is implemented by connectors whose records the panel can
// edit in place (Salesforce).
type RecordEditor interface {
	// Fields describes obj for the agent of ctx; fields the agent may not
	// see are absent.
	Fields(ctx context.Context, tenant string, obj Object) ([]FieldInfo, error)
	// Update sets fields of one record; a refusal is a RecordError naming
	// the field.
	Update(ctx context.Context, tenant string, rec Ref, values map[string]string) error
}

// RecordForms is implemented by connectors whose records the panel edits
// with forms built from the CRM's own description of each object
// (Salesforce's describe, as the agent: the fields they may not see are
// absent, the ones they may not write read-only). Values are by the
// CRM's field names, as text.
type RecordForms interface {
	RecordEditor
	Records
	// ReadFields reads the fields of one record the agent can see.
	ReadFields(ctx context.Context, tenant string, rec Ref) (map[string]string, error)
	// CreateFields creates a record from the fields given (the panel
	// leaves out empty inputs) and returns its id; a refusal is a
	// RecordError naming the field.
	CreateFields(ctx context.Context, tenant string, obj Object, values map[string]string) (string, error)
	// RecordURL links to the record in the CRM's own UI, as the agent of
	// ctx reaches it ("" when none).
	RecordURL(ctx context.Context, tenant string, rec Ref) string
}

// CaseReader is implemented by connectors that read one case by id (the
// panel shows the case a ticket's mail was saved to, open or closed).
type CaseReader interface {
	Case(ctx context.Context, tenant, id string) (Case, error)
}

// Conversion is how a lead is converted: into a new account, or into
// AccountID; with an opportunity when OpportunityName is set.
type Conversion struct {
	LeadID          string
	AccountID       string
	OpportunityName string
}

// Converted is what a conversion made.
type Converted struct {
	AccountID, ContactID, OpportunityID string
}

// LeadConverter is implemented by connectors that convert leads in the
// CRM (Salesforce convertLead).
type LeadConverter interface {
	ConvertLead(ctx context.Context, tenant string, c Conversion) (Converted, error)
}

// SavedEmailStore keeps which emails a connector that copies them (the
// Salesforce one) saved to which records, so the panel shows them and the
// same email is saved to a record once.
type SavedEmailStore interface {
	// SavedEmail is the saved copy of l's email (by Message-ID or message
	// row id) on l's record; ErrNotFound when there is none.
	SavedEmail(ctx context.Context, provider string, l Link) (Link, error)
	PutSavedEmail(ctx context.Context, provider string, l Link) (Link, error)
	// SavedEmails lists the links of a message or ticket, oldest first.
	SavedEmails(ctx context.Context, provider, tenant string, messageID int64, rfcMessageID string, ticketID int64) ([]Link, error)
}

// Match is everything a connector found behind one email address.
type Match struct {
	Email string
	// Contacts whose primary or other email is the address (several when
	// the CRM has duplicates: the sidebar lets the agent choose).
	Contacts []Contact
	Leads    []Lead
	// Accounts: the contacts' accounts, then, when that gives none (no
	// contact matched, or none has an account) and the domain is not a
	// free-mail domain, the accounts owning the domain or else its nearest
	// parent domain (mail.globex.example → globex.example).
	Accounts []Account
	// Opportunities are the open ones of Accounts, soonest close first.
	Opportunities []Opportunity
	Cases         []Case
	// FreeMail is true when the address's domain is a free-mail provider
	// (gmail.com, outlook.com, ...): the domain says nothing of the account.
	FreeMail bool
	// Notice is something the agent should know about the CRM itself
	// (Salesforce: the org's API budget is nearly spent); "" normally.
	Notice string
}

// Connector is what the sidebar needs of a CRM. Every method is scoped by
// tenant; look-ups that find nothing return ErrNotFound (Match returns an
// empty Match instead).
type Connector interface {
	// Name is "local" or "salesforce".
	Name() string
	// Match finds the records behind an email address.
	Match(ctx context.Context, tenant, email string) (Match, error)
	// Account, Contact, Lead, Opportunity fetch one record.
	Account(ctx context.Context, tenant, id string) (Account, error)
	Contact(ctx context.Context, tenant, id string) (Contact, error)
	// Link files an email or ticket against a record; linking the same
	// (record, message or ticket) twice returns the existing link.
	Link(ctx context.Context, l Link) (Link, error)
	// Links lists the links of a message (by row id or Message-ID) or a
	// ticket, oldest first.
	Links(ctx context.Context, tenant string, messageID int64, rfcMessageID string, ticketID int64) ([]Link, error)
	// CreateContact and CreateLead add a record for an unknown sender.
	CreateContact(ctx context.Context, c Contact) (Contact, error)
	CreateLead(ctx context.Context, l Lead) (Lead, error)
}
