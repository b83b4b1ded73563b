package sidebar

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/sidedesk/sidedesk/oauth"
	"github.com/sidedesk/sidedesk/sidebar/views"
	"github.com/sidedesk/sidedesk/ticket"
)

// Consenter answers the OAuth consent page; *oauth.Server implements it.
type Consenter interface {
	ConsentRequest(ctx context.Context, id string) (oauth.Consent, error)
	Approve(ctx context.Context, id, tenant string, userID int64) (string, error)
	Deny(ctx context.Context, id string) (string, error)
}

// scopeText says what each scope lets an app do, in the agent's words.
var scopeText = map[string]string{
	ticket.ScopeTicketsRead:  "read tickets, their messages and attachments",
	ticket.ScopeTicketsWrite: "create and change tickets, write notes and send replies as you",
	ticket.ScopeCRMRead:      "read customer records from the CRM",
	ticket.ScopeCRMWrite:     "change customer records in the CRM",
	ticket.ScopeEventsRead:   "follow every change as it happens (the event stream)",
	ticket.ScopeAdmin:        "administer sidedesk: tokens, webhooks, agents",
}

// consentPage shows what the app asks for (GET /oauth/consent?id=).
func (s *Server) consentPage(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	c, err := s.opts.Consent.ConsentRequest(r.Context(), r.URL.Query().Get("id"))
	if errors.Is(err, oauth.ErrConsent) {
		s.htmlError(w, r, http.StatusBadRequest, "This sign-in request is unknown, expired or already answered; start again from the app.", nil)
		return
	}
	if err != nil {
		s.htmlError(w, r, http.StatusInternalServerError, "The request could not be read; try again.", err)
		return
	}
	if c.Tenant != a.Tenant {
		s.htmlError(w, r, http.StatusForbidden, "This app belongs to another workspace than the one you are signed in to; sign out and sign in there.", nil)
		return
	}
	v := views.Consent{Page: views.Page{Title: "Allow " + c.ClientName + " · sidedesk", CSRF: a.CSRF, AssetBase: assetBase},
		ID: c.ID, ClientName: c.ClientName, AgentEmail: a.Email, RedirectHost: c.RedirectHost, Offline: c.Offline}
	for _, sc := range c.Scopes {
		if sc == ticket.ScopeAdmin && a.Role != ticket.RoleAdmin {
			v.Dropped = "It also asks for admin, which only an admin can grant; it will not get it."
			continue
		}
		v.Scopes = append(v.Scopes, views.ScopeLine{Name: sc, Text: scopeText[sc]})
	}
	if len(v.Scopes) == 0 && !slices.Contains(c.Scopes, ticket.ScopeAdmin) {
		v.Dropped = "It asks for no sidedesk scope: it can only learn who you are."
	}
	s.renderHTML(w, r, http.StatusOK, views.ConsentPage(v))
}

// consent records the agent's answer (POST /oauth/consent) and sends the
// browser on: to the code (allow) or back to the app with access_denied.
func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.htmlError(w, r, http.StatusBadRequest, "The form could not be read.", err)
		return
	}
	id := r.PostForm.Get("id")
	var (
		next string
		err  error
	)
	switch r.PostForm.Get("decision") {
	case "allow":
		next, err = s.opts.Consent.Approve(r.Context(), id, a.Tenant, a.UserID)
	case "deny":
		next, err = s.opts.Consent.Deny(r.Context(), id)
	default:
		s.htmlError(w, r, http.StatusBadRequest, "Choose Allow or Deny.", nil)
		return
	}
	switch {
	case errors.Is(err, oauth.ErrConsent):
		s.htmlError(w, r, http.StatusBadRequest, "This sign-in request is unknown, expired or already answered; start again from the app.", nil)
	case errors.Is(err, oauth.ErrOtherTenant):
		s.htmlError(w, r, http.StatusForbidden, "This app belongs to another workspace than the one you are signed in to.", nil)
	case err != nil:
		s.htmlError(w, r, http.StatusInternalServerError, "Your answer could not be saved; try again.", err)
	default:
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}
