package sidebar

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sidedesk/sidedesk/sidebar/views"
	"github.com/sidedesk/sidedesk/ticket"
)

// An admin connects a mailbox that signs in by OAuth (Microsoft 365,
// Gmail) from the panel: GET /sidebar/mailboxes lists them,
// GET /sidebar/mailboxes/connect?mailbox= sends the browser to the
// provider's consent page (authorization code + PKCE), which comes back to
// GET /sidebar/mailboxes/callback. The state is bound to the signed-in admin
// and tenant.

// MailboxConnector connects mailboxes by OAuth (cmd/sidedesk adapts
// internal/mailauth to it).
type MailboxConnector interface {
	// MailboxAuths lists tenant's OAuth mailboxes.
	MailboxAuths(tenant string) []MailboxAuthState
	// AuthorizeMailbox is the provider's consent URL for the mailbox;
	// ErrUnknownMailbox when tenant has no such OAuth mailbox.
	AuthorizeMailbox(tenant, agent, mailbox, redirectURL string) (string, error)
	// CompleteMailbox exchanges the callback's code; ErrMailboxState when
	// the state is not one issued to this agent (or expired).
	CompleteMailbox(ctx context.Context, tenant, agent, redirectURL, code, state string) (mailbox string, err error)
}

// MailboxAuthState is one mailbox's OAuth state.
type MailboxAuthState struct {
	Name       string
	Grant      string
	OK         bool
	Error      string
	Refreshed  time.Time
	CanConsent bool
}

// Errors of a MailboxConnector.
var (
	ErrUnknownMailbox = errors.New("sidebar: no such OAuth mailbox")
	ErrMailboxState   = errors.New("sidebar: mailbox consent state invalid or expired")
)

func (s *Server) requireAdmin(w http.ResponseWriter, r *http.Request) (Agent, bool) {
	a, _ := AgentFrom(r.Context())
	if a.Role != ticket.RoleAdmin {
		s.htmlError(w, r, http.StatusForbidden, "Only an admin connects mailboxes; ask one of your admins.", nil)
		return a, false
	}
	return a, true
}

func (s *Server) mailboxCallbackURL(r *http.Request) string {
	if s.base != "" {
		return s.base + "/sidebar/mailboxes/callback" // what is registered with the app
	}
	return s.origin(r) + "/sidebar/mailboxes/callback"
}

func (s *Server) mailboxesPage(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireAdmin(w, r)
	if !ok {
		return
	}
	v := views.Mailboxes{Page: views.Page{Title: "Mailbox connections · sidedesk", CSRF: a.CSRF, AssetBase: assetBase},
		Done: r.URL.Query().Get("done")}
	for _, b := range s.opts.Mailboxes.MailboxAuths(a.Tenant) {
		m := views.MailboxAuth{Name: b.Name, Grant: b.Grant, OK: b.OK, Error: b.Error, CanConsent: b.CanConsent}
		if !b.Refreshed.IsZero() {
			m.Refreshed = b.Refreshed.UTC().Format("2006-01-02 15:04 UTC")
		}
		v.Boxes = append(v.Boxes, m)
	}
	s.renderHTML(w, r, http.StatusOK, views.MailboxesPage(v))
}

func (s *Server) mailboxConnect(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireAdmin(w, r)
	if !ok {
		return
	}
	name := r.URL.Query().Get("mailbox")
	u, err := s.opts.Mailboxes.AuthorizeMailbox(a.Tenant, a.Email, name, s.mailboxCallbackURL(r))
	if errors.Is(err, ErrUnknownMailbox) {
		s.htmlError(w, r, http.StatusNotFound, "No mailbox "+strconv.Quote(name)+" signs in by OAuth in this workspace; see the mailbox connections page.", nil)
		return
	}
	if err != nil {
		s.htmlError(w, r, http.StatusBadRequest, "This mailbox cannot be connected here: "+err.Error(), nil)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (s *Server) mailboxCallback(w http.ResponseWriter, r *http.Request) {
	a, ok := s.requireAdmin(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	if msg, refused := consentRefused(q, "The mailbox", "the mailbox connections page"); refused {
		s.htmlError(w, r, http.StatusBadRequest, msg, nil)
		return
	}
	name, err := s.opts.Mailboxes.CompleteMailbox(r.Context(), a.Tenant, a.Email, s.mailboxCallbackURL(r), q.Get("code"), q.Get("state"))
	if errors.Is(err, ErrMailboxState) {
		s.htmlError(w, r, http.StatusBadRequest, "This sign-in link has expired or was started by another admin; start again from the mailbox connections page.", err)
		return
	}
	if err != nil {
		s.htmlError(w, r, http.StatusBadGateway, "The provider refused the connection: "+err.Error(), err)
		return
	}
	s.log.InfoContext(r.Context(), "sidebar: admin connected a mailbox by OAuth", "agent", a.Email, "mailbox", name)
	http.Redirect(w, r, "/sidebar/mailboxes?done="+url.QueryEscape(name), http.StatusSeeOther)
}
