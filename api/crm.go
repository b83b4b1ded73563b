package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sidedesk/sidedesk/crm"
)

// The CRM's records under /api/v1/crm/{object}: accounts, contacts,
// leads, opportunities, cases and campaigns of the configured connector (the local
// CRM or Salesforce), read with crm:read and written with crm:write. An
// OAuth token acting for an agent reads and writes Salesforce as that
// agent; other tokens as [crm] service_agent.

// crmObject reads {object} (singular or plural), answering 404 itself.
func (s *Server) crmObject(w http.ResponseWriter, r *http.Request) (crm.Object, bool) {
	obj, ok := crm.ParseObject(r.PathValue("object"))
	if !ok {
		s.writeError(w, r, http.StatusNotFound, "not_found",
			fmt.Sprintf("no CRM object %q (want accounts, contacts, leads, opportunities, cases or campaigns)", r.PathValue("object")), nil)
	}
	return obj, ok
}

// crmRequest acts as the caller's agent, when the token has one.
func crmRequest(r *http.Request) *http.Request {
	if c, _ := CallerFrom(r.Context()); c.AgentEmail != "" {
		return r.WithContext(crm.WithAgent(r.Context(), c.AgentEmail))
	}
	return r
}

func (s *Server) recordJSON(obj crm.Object, v crm.Values) crm.Values {
	out := crm.Values{"object": string(obj)}
	for k, x := range v {
		out[k] = x
	}
	if id := v.Text("id"); id != "" {
		out["api_url"] = s.link("/api/v1/crm/%s/%s", plural(obj), id)
	}
	return out
}

func plural(o crm.Object) string {
	if o == crm.ObjOpportunity {
		return "opportunities"
	}
	return string(o) + "s"
}

// writeCRMError answers a connector's error.
func (s *Server) writeCRMError(w http.ResponseWriter, r *http.Request, what string, err error) {
	var re crm.RecordError
	switch {
	case errors.As(err, &re):
		msg := re.Err.Error()
		if re.Field != "" {
			msg = re.Field + ": " + msg
		}
		s.writeError(w, r, http.StatusBadRequest, "invalid_request", msg, err)
	case errors.Is(err, crm.ErrNotFound):
		s.writeError(w, r, http.StatusNotFound, "not_found", what+" not found", err)
	case errors.Is(err, crm.ErrNotConnected):
		s.writeError(w, r, http.StatusConflict, "crm_not_connected",
			"the CRM is read through an agent's own connection and this token has none: use an OAuth token of an agent who connected in the panel, or set crm.service_agent", err)
	case errors.Is(err, crm.ErrUnavailable):
		w.Header().Set("Retry-After", "300")
		s.writeError(w, r, http.StatusServiceUnavailable, "crm_unavailable", "the CRM is over its API request limit or out of reach; try again in a few minutes", err)
	case r.Context().Err() != nil:
	default:
		s.writeError(w, r, http.StatusBadGateway, "crm_error", "the CRM did not answer as expected", err)
	}
}

func (s *Server) listCRM(w http.ResponseWriter, r *http.Request) {
	obj, ok := s.crmObject(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	rq := crm.RecordQuery{Email: q.Get("email"), Name: q.Get("name"), AccountID: q.Get("account_id")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			s.writeError(w, r, http.StatusBadRequest, "invalid_request", "limit: want a number from 1 to 200", nil)
			return
		}
		rq.Limit = n
	}
	for k := range q {
		switch k {
		case "email", "name", "account_id", "limit":
		default:
			s.writeError(w, r, http.StatusBadRequest, "invalid_request",
				fmt.Sprintf("unknown parameter %q (want email, name, account_id, limit)", k), nil)
			return
		}
	}
	r = crmRequest(r)
	recs, err := s.opts.CRM.ListRecords(r.Context(), tenantOf(r), obj, rq)
	if err != nil {
		s.writeCRMError(w, r, plural(obj), err)
		return
	}
	out := make([]crm.Values, 0, len(recs))
	for _, v := range recs {
		out = append(out, s.recordJSON(obj, v))
	}
	s.writeJSON(w, r, http.StatusOK, map[string]any{"object": string(obj), "records": out})
}

func (s *Server) getCRM(w http.ResponseWriter, r *http.Request) {
	obj, ok := s.crmObject(w, r)
	if !ok {
		return
	}
	r = crmRequest(r)
	id := r.PathValue("id")
	v, err := s.opts.CRM.GetRecord(r.Context(), tenantOf(r), crm.Ref{Object: obj, ID: id})
	if err != nil {
		s.writeCRMError(w, r, fmt.Sprintf("%s %s", obj, id), err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, s.recordJSON(obj, v))
}

// crmBody reads a record's fields: a JSON object of field values.
func (s *Server) crmBody(w http.ResponseWriter, r *http.Request) (crm.Values, bool) {
	var v map[string]any
	if !s.decodeBody(w, r, maxPatchBody, "the record", &v) {
		return nil, false
	}
	for _, meta := range []string{"id", "object", "source", "external_id", "url", "api_url", "created_at", "updated_at"} {
		delete(v, meta) // what GET answers can be sent back as is
	}
	return v, true
}

func (s *Server) postCRM(w http.ResponseWriter, r *http.Request) {
	s.writeCRM(w, r, http.StatusCreated, func(r *http.Request, obj crm.Object, f crm.Values) (crm.Values, string, error) {
		v, err := s.opts.CRM.CreateRecord(r.Context(), tenantOf(r), obj, f)
		return v, string(obj), err
	})
}

func (s *Server) patchCRM(w http.ResponseWriter, r *http.Request) {
	s.writeCRM(w, r, http.StatusOK, func(r *http.Request, obj crm.Object, f crm.Values) (crm.Values, string, error) {
		id := r.PathValue("id")
		v, err := s.opts.CRM.UpdateRecord(r.Context(), tenantOf(r), crm.Ref{Object: obj, ID: id}, f)
		return v, fmt.Sprintf("%s %s", obj, id), err
	})
}

// writeCRM reads {object} and the body, runs write as the caller's agent
// and answers the record (status) or the error (naming what).
func (s *Server) writeCRM(w http.ResponseWriter, r *http.Request, status int,
	write func(r *http.Request, obj crm.Object, f crm.Values) (v crm.Values, what string, err error)) {
	obj, ok := s.crmObject(w, r)
	if !ok {
		return
	}
	f, ok := s.crmBody(w, r)
	if !ok {
		return
	}
	r = crmRequest(r)
	v, what, err := write(r, obj, f)
	if err != nil {
		s.writeCRMError(w, r, what, err)
		return
	}
	out := s.recordJSON(obj, v)
	if u, ok := out["api_url"].(string); ok && status == http.StatusCreated {
		w.Header().Set("Location", u)
	}
	s.writeJSON(w, r, status, out)
}

func (s *Server) deleteCRM(w http.ResponseWriter, r *http.Request) {
	obj, ok := s.crmObject(w, r)
	if !ok {
		return
	}
	r = crmRequest(r)
	id := r.PathValue("id")
	if err := s.opts.CRM.DeleteRecord(r.Context(), tenantOf(r), crm.Ref{Object: obj, ID: id}); err != nil {
		s.writeCRMError(w, r, fmt.Sprintf("%s %s", obj, id), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
