package api

import (
	"net/http"

	"github.com/sidedesk/sidedesk/ticket"
)

// healthBody is the JSON of /healthz.
type healthBody struct {
	Status  string `json:"status"` // "ok" or "unavailable", or the details' own
	Details any    `json:"details,omitempty"`
}

// HealthStatus is implemented by health details that grade themselves more
// finely than ok/unavailable (e.g. "degraded": serving, but a mailbox cannot
// log in); /healthz then shows that word as its status.
type HealthStatus interface {
	HealthStatus() string
}

// healthz answers 200 when Options.Health reports ok, 503 otherwise. No
// authentication is needed for the status alone (load balancers and
// monitors call it); the details (mailbox names, counts, errors) go only
// to a valid API token with the admin scope, and only its tenant's. A token that is sent but
// unknown answers 401, so a monitor's misconfiguration shows.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	tenant := ""
	if r.Header.Get("Authorization") != "" {
		tok, ok := s.checkToken(w, r)
		if !ok {
			return
		}
		if tok.Allows(ticket.ScopeAdmin) {
			tenant = tok.Tenant // details for admin tokens only
		}
	}
	ok, details := true, any(nil)
	if s.opts.Health != nil {
		ok, details = s.opts.Health(r.Context(), tenant)
	}
	status, body := http.StatusOK, healthBody{Status: "ok", Details: details}
	if !ok {
		status, body.Status = http.StatusServiceUnavailable, "unavailable"
	}
	if hs, isHS := details.(HealthStatus); isHS {
		body.Status = hs.HealthStatus()
	}
	if tenant == "" {
		body.Details = nil
	}
	s.writeJSON(w, r, status, body)
}

// metrics serves Options.Metrics (Prometheus exposition), 404 without it.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		s.writeError(w, r, http.StatusNotFound, "not_found", "metrics are not enabled", nil)
		return
	}
	s.opts.Metrics.ServeHTTP(w, r)
}
