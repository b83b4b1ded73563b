package ticket

import (
	"errors"
	"time"
)

// The records the edges (the panel, the API, Slack) read and write beside
// tickets: agents, their sessions and API tokens, ticket list filters, and
// the Slack messages sidedesk posted. Package store keeps them.

// User roles.
const (
	RoleAdmin = "admin"
	RoleAgent = "agent"
)

// ErrUserExists is returned (wrapped) by CreateUser when the tenant already
// has a user with that email.
var ErrUserExists = errors.New("user exists")

// User is an agent (or admin) of a tenant, known by email. Slack users and
// panel logins map to it by email.
type User struct {
	ID     int64
	Tenant string
	Email  string // normalised
	Name   string
	Role   string // RoleAdmin or RoleAgent
	// PasswordHash is the encoded password hash (argon2id, by the login
	// code); "" when the user has no password (stored as NULL).
	PasswordHash string
	CreatedAt    time.Time
	// DisabledAt is when an admin disabled the user (who then cannot sign
	// in); zero for an active user.
	DisabledAt time.Time
}

// Token is an API token's record. The token itself is never stored: only
// the hex SHA-256 of it, which TokenByHash looks up.
type Token struct {
	ID         int64
	Tenant     string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used; updated at most once a minute
	RevokedAt  time.Time // zero for a token in use; a revoked one authenticates nothing
	// Scopes say what the token may do (Scope*); ScopeAdmin allows all.
	Scopes []string
}

// API token scopes.
const (
	ScopeTicketsRead  = "tickets:read"  // read tickets, messages, attachments
	ScopeTicketsWrite = "tickets:write" // change tickets, reply
	ScopeCRMRead      = "crm:read"      // look up the CRM (the panel's facts)
	ScopeCRMWrite     = "crm:write"     // change CRM records
	ScopeEventsRead   = "events:read"   // the event stream
	ScopeAdmin        = "admin"         // everything: webhooks, tokens, health details
)

// AllScopes are every scope, in order.
var AllScopes = []string{ScopeTicketsRead, ScopeTicketsWrite, ScopeCRMRead, ScopeCRMWrite, ScopeEventsRead, ScopeAdmin}

// DefaultScopes are a new token's scopes unless others are asked for:
// everything but changing the CRM and administration.
var DefaultScopes = []string{ScopeTicketsRead, ScopeTicketsWrite, ScopeCRMRead, ScopeEventsRead}

// Allows reports whether the token may act with scope.
func (t Token) Allows(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope || s == ScopeAdmin {
			return true
		}
	}
	return false
}

// ErrTokenExists: the tenant has a token of that name in use already.
var ErrTokenExists = errors.New("a token of that name exists")

// Session is an agent's signed-in web session (the panel). The session id
// itself is never stored, only its hash (see the sidebar package), like API
// tokens.
type Session struct {
	ID     int64
	Tenant string
	UserID int64
	// CSRFToken is the session's synchronizer token: every state-changing
	// request of the session must echo it.
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TicketFilter selects and pages tickets for ListTickets.
type TicketFilter struct {
	Status    Status // "" = any
	Mailbox   string // "" = any
	Requester string // requester email, normalised here; "" = any
	Tag       string // a tag the ticket carries (NormTags form); "" = any
	Limit     int    // page size: default 50, at most 200
	Cursor    string // opaque, the next cursor of the previous page; "" = first page
}

// Page size bounds of ListTickets.
const (
	DefaultListLimit = 50
	MaxListLimit     = 200
)

// ErrInvalidCursor is returned (wrapped) by ListTickets for a cursor it did
// not hand out; the HTTP API answers 400.
var ErrInvalidCursor = errors.New("invalid cursor")

// ErrInvalidFilter is returned (wrapped) by ListTickets for an unknown status.
var ErrInvalidFilter = errors.New("invalid filter")

// Kinds of SlackMessage.
const (
	SlackAlert = "alert" // a ticket's alert in a channel; Ref is the ticket id
	SlackReply = "reply" // a thread reply for one outbox event; Ref is the event id
)

// SlackMessage is a Slack message sidedesk posts, recorded before the post
// (TS "") and completed with Slack's ts after it. A row whose TS is still
// "" after a crash or a lost answer may or may not be in Slack.
type SlackMessage struct {
	Tenant    string
	Kind      string // SlackAlert or SlackReply
	Ref       int64  // ticket id (alert) or event id (reply)
	TicketID  int64
	Channel   string // as configured
	ChannelID string // as Slack answered; "" until posted
	TS        string // "" until posted
	ThreadTS  string // replies: the alert's ts
	StartedAt time.Time
	PostedAt  time.Time // zero until posted
}

// Posted reports whether Slack's answer to the post was stored.
func (m SlackMessage) Posted() bool { return m.TS != "" }

// Webhook is an outbound webhook subscription of a tenant.
type Webhook struct {
	ID     int64
	Tenant string
	URL    string
	// EventTypes are the public event types delivered; empty: all.
	EventTypes []string
	// SecretSealed is the signing secret, sealed by the webhook service
	// (the store never sees it in the clear).
	SecretSealed []byte
	// PreviousSealed is the secret before the last rotation; it signs too
	// until PreviousUntil.
	PreviousSealed []byte
	PreviousUntil  time.Time
	CreatedAt      time.Time
	FailingSince   time.Time // first failure of the current run of failures; zero when the last delivery worked
	DisabledAt     time.Time // zero while active
	DisabledReason string
}

// WebhookDelivery is one attempt to deliver an event to a webhook.
type WebhookDelivery struct {
	ID         int64
	WebhookID  int64
	Tenant     string
	EventID    int64
	MsgID      string // the webhook-id header: the same on every retry
	EventType  string
	AttemptAt  time.Time
	StatusCode int // 0: no answer (connection, timeout)
	Error      string
	Duration   time.Duration
}
