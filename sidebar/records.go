package sidebar

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/sidebar/views"
)

// The CRM's records in forms built from the CRM's own description of each
// object, as the agent sees it (Salesforce's describe with their
// field-level security): GET /sidebar/crm/record edits one record, GET
// /sidebar/crm/new starts one, GET /sidebar/crm/find finds them by name;
// the forms post to the same paths (and /sidebar/crm/record/delete), each
// carrying the panel context so "Back to the email" returns to it.

// formObjects are the objects the forms offer, in the order shown.
var formObjects = []crm.Object{crm.ObjContact, crm.ObjLead, crm.ObjAccount, crm.ObjOpportunity, crm.ObjCase, crm.ObjCampaign}

// maxFormFields bounds the inputs of one form (Salesforce objects have a
// few hundred fields at most).
const maxFormFields = 500

// auditFields are set by the CRM on every record; a form does not show
// them (they say nothing an agent acts on).
var auditFields = map[string]bool{"Id": true, "IsDeleted": true, "CreatedDate": true, "CreatedById": true,
	"LastModifiedDate": true, "LastModifiedById": true, "SystemModstamp": true, "LastActivityDate": true,
	"LastViewedDate": true, "LastReferencedDate": true, "MasterRecordId": true, "PhotoUrl": true,
	"JigsawContactId": true, "Jigsaw": true, "JigsawCompanyId": true, "CleanStatus": true}

// notFormTypes are describe types no input edits (compound and binary
// fields; their parts are fields of their own).
var notFormTypes = map[string]bool{"id": true, "address": true, "location": true, "base64": true,
	"anyType": true, "complexvalue": true, "json": true}

func (s *Server) forms() crm.RecordForms {
	f, _ := s.opts.CRM.(crm.RecordForms)
	return f
}

// formRequest reads what every record page and form carries: the panel
// context, the object and (for one record) its id.
func formRequest(get func(string) string, needID bool) (pc views.Context, obj crm.Object, id string, err error) {
	pc, err = panelContext(get)
	if err != nil {
		return pc, "", "", err
	}
	obj = crm.Object(strings.ToLower(strings.TrimSpace(get("object"))))
	if !slices.Contains(formObjects, obj) {
		return pc, "", "", fmt.Errorf("object %q is not one of contact, lead, account, opportunity, case, campaign", get("object"))
	}
	id = strings.TrimSpace(get("id"))
	if needID && (id == "" || len(id) > 64 || strings.ContainsAny(id, "/?#%\\ ")) {
		return pc, "", "", fmt.Errorf("the record id %q is not one", id)
	}
	return pc, obj, id, nil
}

// loadError is actionError's answer for a page that could not be read.
func (s *Server) loadError(r *http.Request, err error) (int, string) {
	status, msg := s.actionError(r, err)
	return status, strings.Replace(msg, "Not saved: ", "Not loaded: ", 1)
}

var recordDone = map[string]string{"saved": "Saved.", "created": "Created.", "unchanged": "Nothing changed."}

// recordPage serves GET /sidebar/crm/record.
func (s *Server) recordPage(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	pc, obj, id, err := formRequest(r.URL.Query().Get, true)
	if err != nil {
		s.htmlError(w, r, http.StatusBadRequest, "The record link is incomplete: "+err.Error()+". Open the record from the panel.", nil)
		return
	}
	f, status := s.recordForm(r, a, pc, obj, id)
	f.Flash = recordDone[r.URL.Query().Get("done")]
	s.renderHTML(w, r, status, views.RecordPage(f))
}

// recordForm builds the form of one record (id "" for a new one) from the
// describe, with the record's values.
func (s *Server) recordForm(r *http.Request, a Agent, pc views.Context, obj crm.Object, id string) (views.RecordForm, int) {
	ctx := r.Context()
	fo := s.forms()
	f := views.RecordForm{Page: views.Page{Title: objectKind(obj) + " · sidedesk", CSRF: a.CSRF, AssetBase: assetBase},
		Ctx: pc, Back: pc.URL("/sidebar"), CRMName: crmName(s.opts.CRM.Name()), Object: string(obj), ObjectLabel: objectKind(obj),
		ID: id, Action: "/sidebar/crm/new"}
	if id != "" {
		f.Action, f.CanDelete = "/sidebar/crm/record", true
	}
	fields, err := fo.Fields(ctx, a.Tenant, obj)
	if err != nil {
		status, msg := s.loadError(r, err)
		f.Error, f.CanDelete = msg, false
		return f, status
	}
	var current map[string]string
	if id != "" {
		current, err = fo.ReadFields(ctx, a.Tenant, crm.Ref{Object: obj, ID: id})
		if err != nil {
			status, msg := s.loadError(r, err)
			if errors.Is(err, crm.ErrNotFound) {
				msg = "There is no such " + objectKind(obj) + " (deleted, or not shared with you)."
			}
			f.Error, f.CanDelete = msg, false
			return f, status
		}
		f.URL = fo.RecordURL(ctx, a.Tenant, crm.Ref{Object: obj, ID: id})
		f.Title = recordTitle(current)
	}
	for _, fi := range fields {
		if auditFields[fi.Name] || notFormTypes[fi.Type] || len(f.Fields) >= maxFormFields {
			continue
		}
		writable := fi.Updateable
		if id == "" {
			writable = fi.Createable
		}
		v := current[fi.Name]
		if !writable && (id == "" || v == "") {
			continue // nothing to show: a new record's computed field, or an empty one
		}
		f.Fields = append(f.Fields, formInput(fi, v, !writable, id == ""))
	}
	return f, http.StatusOK
}

// recordTitle is a record's name for the page heading.
func recordTitle(v map[string]string) string {
	for _, k := range []string{"Name", "name", "Subject", "subject", "CaseNumber"} {
		if v[k] != "" {
			return v[k]
		}
	}
	if n := strings.TrimSpace(v["first_name"] + " " + v["last_name"]); n != "" {
		return n
	}
	return cmp.Or(v["Id"], v["id"])
}

// formInput is the input for one described field.
func formInput(fi crm.FieldInfo, value string, readOnly, creating bool) views.FormInput {
	in := views.FormInput{Name: fi.Name, Label: fi.Label, Value: value, ReadOnly: readOnly, Kind: "text"}
	if in.Label == "" {
		in.Label = fi.Name
	}
	in.Required = fi.Required && !(creating && fi.Defaulted)
	switch fi.Type {
	case "email":
		in.Kind = "email"
	case "phone":
		in.Kind = "tel"
	case "url":
		in.Kind = "url"
	case "textarea":
		in.Kind = "textarea"
	case "int":
		in.Kind, in.Step = "number", "1"
	case "double", "currency", "percent":
		in.Kind, in.Step = "number", "any"
	case "date":
		in.Kind = "date"
	case "boolean":
		in.Kind, in.Required = "checkbox", false
	case "picklist":
		if len(fi.Picklist) > 0 {
			in.Kind, in.Options = "select", fi.Picklist
		}
	}
	return in
}

// postedFields are a form's "f_" inputs by field name (at most max of
// them, each cut at runes). A checkbox posts its hidden "false" and, when
// ticked, "true" after it: the last value counts.
func postedFields(r *http.Request, max, runes int) map[string]string {
	out := map[string]string{}
	for k, vs := range r.PostForm {
		name, ok := strings.CutPrefix(k, "f_")
		if !ok || name == "" || len(name) > 80 || len(vs) == 0 || len(out) >= max {
			continue
		}
		out[name] = truncateRunes(strings.TrimSpace(vs[len(vs)-1]), runes)
	}
	return out
}

// sameValue compares a posted value with the record's: numbers by value
// ("1500" is "1500.0"), others as text.
func sameValue(kind, posted, current string) bool {
	if posted == current {
		return true
	}
	if kind == "number" {
		a, err1 := strconv.ParseFloat(posted, 64)
		b, err2 := strconv.ParseFloat(current, 64)
		return err1 == nil && err2 == nil && a == b
	}
	return false
}

// parseRecordPost reads a record form's post (the CSRF token is checked
// by requireAgent).
func (s *Server) parseRecordPost(w http.ResponseWriter, r *http.Request, needID bool) (views.Context, crm.Object, string, bool) {
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	}
	if err := r.ParseForm(); err != nil {
		s.htmlError(w, r, http.StatusBadRequest, "The form could not be read.", err)
		return views.Context{}, "", "", false
	}
	pc, obj, id, err := formRequest(r.PostForm.Get, needID)
	if err != nil {
		s.htmlError(w, r, http.StatusBadRequest, "The form is incomplete: "+err.Error()+".", nil)
		return pc, "", "", false
	}
	return pc, obj, id, true
}

// saveRecord serves POST /sidebar/crm/record: the fields the agent
// changed are written, as the agent.
func (s *Server) saveRecord(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	pc, obj, id, ok := s.parseRecordPost(w, r, true)
	if !ok {
		return
	}
	posted := postedFields(r, maxFormFields, 32000)
	ref := crm.Ref{Object: obj, ID: id}
	fo := s.forms()
	before, status := s.recordForm(r, a, pc, obj, id)
	if before.Error != "" {
		s.renderHTML(w, r, status, views.RecordPage(before))
		return
	}
	changes := map[string]string{}
	for _, in := range before.Fields {
		v, sent := posted[in.Name]
		if in.ReadOnly || !sent || sameValue(in.Kind, v, in.Value) {
			continue
		}
		changes[in.Name] = v
	}
	if len(changes) == 0 {
		http.Redirect(w, r, views.RecordURL(pc, string(obj), id, "unchanged"), http.StatusSeeOther)
		return
	}
	if err := fo.Update(r.Context(), a.Tenant, ref, changes); err != nil {
		s.refusedForm(w, r, before, posted, err)
		return
	}
	http.Redirect(w, r, views.RecordURL(pc, string(obj), id, "saved"), http.StatusSeeOther)
}

// refusedForm answers a refused save, create or delete: form f again with
// what the agent entered (posted) in its inputs and the CRM's words next
// to the field they name.
func (s *Server) refusedForm(w http.ResponseWriter, r *http.Request, f views.RecordForm, posted map[string]string, err error) {
	status, msg := s.actionError(r, err)
	if status >= 500 {
		s.htmlError(w, r, status, msg, err)
		return
	}
	for i, in := range f.Fields {
		if v, ok := posted[in.Name]; ok && !in.ReadOnly {
			f.Fields[i].Value = v
		}
	}
	f.Error = msg
	var re crm.RecordError
	if errors.As(err, &re) && re.Field != "" {
		for i := range f.Fields {
			if strings.EqualFold(f.Fields[i].Name, re.Field) || f.Fields[i].Label == re.Field {
				f.Fields[i].Error = fmt.Sprint(re.Err)
			}
		}
	}
	s.renderHTML(w, r, status, views.RecordPage(f))
}

// newRecordPage serves GET /sidebar/crm/new.
func (s *Server) newRecordPage(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	pc, obj, _, err := formRequest(r.URL.Query().Get, false)
	if err != nil {
		s.htmlError(w, r, http.StatusBadRequest, "The link is incomplete: "+err.Error()+".", nil)
		return
	}
	f, status := s.recordForm(r, a, pc, obj, "")
	s.renderHTML(w, r, status, views.RecordPage(f))
}

// createFromForm serves POST /sidebar/crm/new.
func (s *Server) createFromForm(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	pc, obj, _, ok := s.parseRecordPost(w, r, false)
	if !ok {
		return
	}
	posted := postedFields(r, maxFormFields, 32000)
	values := map[string]string{}
	for k, v := range posted {
		if v != "" {
			values[k] = v
		}
	}
	id, err := s.forms().CreateFields(r.Context(), a.Tenant, obj, values)
	if err != nil {
		f, _ := s.recordForm(r, a, pc, obj, "")
		s.refusedForm(w, r, f, posted, err)
		return
	}
	http.Redirect(w, r, views.RecordURL(pc, string(obj), id, "created"), http.StatusSeeOther)
}

// deleteRecord serves POST /sidebar/crm/record/delete.
func (s *Server) deleteRecord(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	pc, obj, id, ok := s.parseRecordPost(w, r, true)
	if !ok {
		return
	}
	if err := s.forms().DeleteRecord(r.Context(), a.Tenant, crm.Ref{Object: obj, ID: id}); err != nil {
		f, _ := s.recordForm(r, a, pc, obj, id)
		s.refusedForm(w, r, f, nil, err)
		return
	}
	http.Redirect(w, r, pc.URL("/sidebar", "done", "deleted"), http.StatusSeeOther)
}

// findPage serves GET /sidebar/crm/find: records of one object whose name
// starts with q, each linking to its form.
func (s *Server) findPage(w http.ResponseWriter, r *http.Request) {
	a, _ := AgentFrom(r.Context())
	q := r.URL.Query()
	if q.Get("object") == "" {
		q.Set("object", string(crm.ObjAccount))
	}
	pc, obj, _, err := formRequest(q.Get, false)
	if err != nil {
		s.htmlError(w, r, http.StatusBadRequest, "The search is incomplete: "+err.Error()+".", nil)
		return
	}
	f := views.RecordFind{Page: views.Page{Title: "Find · sidedesk", CSRF: a.CSRF, AssetBase: assetBase}, Ctx: pc,
		Back: pc.URL("/sidebar"), CRMName: crmName(s.opts.CRM.Name()), Object: string(obj), ObjectLabel: objectKind(obj),
		Q: truncateRunes(strings.TrimSpace(q.Get("q")), 80)}
	for _, o := range formObjects {
		f.Objects = append(f.Objects, views.ObjectChoice{Object: string(o), Label: objectKind(o)})
	}
	status := http.StatusOK
	if f.Q != "" {
		recs, err := s.forms().ListRecords(r.Context(), a.Tenant, obj, crm.RecordQuery{Name: f.Q, Limit: 25})
		if err != nil {
			status, f.Error = s.loadError(r, err)
		}
		for _, v := range recs {
			f.Results = append(f.Results, views.FoundRecord{Label: foundLabel(obj, v), Sub: foundSub(obj, v),
				Edit: views.RecordURL(pc, string(obj), v.Text("id"), "")})
		}
	}
	s.renderHTML(w, r, status, views.FindPage(f))
}

func foundLabel(obj crm.Object, v crm.Values) string {
	switch obj {
	case crm.ObjContact, crm.ObjLead:
		return views.PersonName(v.Text("first_name"), v.Text("last_name"), v.Text("email"))
	case crm.ObjCase:
		return v.Text("subject")
	}
	return v.Text("name")
}

func foundSub(obj crm.Object, v crm.Values) string {
	switch obj {
	case crm.ObjContact:
		return v.Text("email")
	case crm.ObjLead:
		return strings.Trim(v.Text("company")+" · "+v.Text("status"), " ·")
	case crm.ObjOpportunity:
		return v.Text("stage")
	case crm.ObjCase, crm.ObjCampaign:
		return v.Text("status")
	case crm.ObjAccount:
		return v.Text("type")
	}
	return ""
}
