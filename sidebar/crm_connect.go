package sidebar

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/sidedesk/sidedesk/crm"
)

// The agent connects their own CRM account (Salesforce) from the panel:
// GET /sidebar/crm/connect sends the browser to the CRM's consent page,
// which comes back to GET /sidebar/crm/callback. The consent's state is
// bound to the signed-in agent, so a callback cannot connect another
// agent's panel to someone else's CRM user.

// crmName is a connector's display name.
func crmName(name string) string {
	switch name {
	case "salesforce":
		return "Salesforce"
	case "local", "":
		return "CRM"
	}
	return name
}

// consentRefused reads a provider's refusal from an OAuth callback's query
// (RFC 6749 §4.1.2.1: error, error_description) as a sentence naming what
// did not connect and where to start again.
func consentRefused(q url.Values, what, startFrom string) (string, bool) {
	e := q.Get("error")
	if e == "" {
		return "", false
	}
	msg := what + " did not connect (" + e
	if d := q.Get("error_description"); d != "" {
		msg += ": " + d
	}
	return msg + "). Start again from " + startFrom + ".", true
}

// localReturn keeps return paths inside the panel (no open redirect).
func localReturn(p string) string {
	if !strings.HasPrefix(p, "/sidebar") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/sidebar"
	}
	return p
}

func (s *Server) crmConnect(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	authz := s.opts.CRM.(crm.Authorizer)
	u, err := authz.AuthorizeURL(r.Context(), a.Tenant, a.Email, localReturn(r.URL.Query().Get("return")))
	if err != nil {
		s.htmlError(w, r, http.StatusInternalServerError, "The "+crmName(s.opts.CRM.Name())+" sign-in could not be started.", err)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (s *Server) crmCallback(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	name := crmName(s.opts.CRM.Name())
	q := r.URL.Query()
	if msg, refused := consentRefused(q, name, "the panel"); refused {
		s.htmlError(w, r, http.StatusBadRequest, msg, nil)
		return
	}
	back, err := s.opts.CRM.(crm.Authorizer).Complete(r.Context(), a.Tenant, a.Email, q.Get("code"), q.Get("state"))
	if err != nil {
		if errors.Is(err, crm.ErrConsentState) {
			s.htmlError(w, r, http.StatusBadRequest, "This "+name+" sign-in link has expired or was started by another agent; start again from the panel.", err)
			return
		}
		s.htmlError(w, r, http.StatusBadGateway, name+" refused the connection; see the server log, or try again.", err)
		return
	}
	back = localReturn(back)
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	if strings.HasSuffix(back, "?") {
		sep = ""
	}
	s.log.InfoContext(r.Context(), "sidebar: agent connected their CRM account", "agent", a.Email, "crm", s.opts.CRM.Name())
	http.Redirect(w, r, back+sep+"done=crm", http.StatusSeeOther)
}
