package sftest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

var versionRE = regexp.MustCompile(`^/services/data/(v\d+\.\d)(/.*)?$`)

// api serves /services/data/vXX.X/...
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	m := versionRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		apiErrors(w, 404, apiErr{"NOT_FOUND", "The requested resource does not exist", nil})
		return
	}
	if m[1] != s.version && m[1] != "v60.0" && m[1] != "v61.0" {
		apiErrors(w, 404, apiErr{"NOT_FOUND", "The requested resource does not exist", nil})
		return
	}
	user, ok := s.authed(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	if s.used >= s.max {
		s.mu.Unlock()
		apiErrors(w, 403, apiErr{"REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", nil})
		return
	}
	s.used++
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", s.used, s.max))
	s.mu.Unlock()
	rest := strings.TrimPrefix(m[2], "/")
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	switch {
	case rest == "limits" && r.Method == http.MethodGet:
		s.mu.Lock()
		body := map[string]any{"DailyApiRequests": map[string]int{"Max": s.max, "Remaining": s.max - s.used}}
		s.mu.Unlock()
		writeJSON(w, 200, body)
	case rest == "query" && r.Method == http.MethodGet:
		s.query(w, r.URL.Query().Get("q"))
	case len(parts) == 2 && parts[0] == "query" && r.Method == http.MethodGet:
		s.more(w, parts[1])
	case len(parts) >= 2 && parts[0] == "sobjects":
		s.sobject(w, r, user, parts[1:])
	default:
		apiErrors(w, 404, apiErr{"NOT_FOUND", "The requested resource does not exist", nil})
	}
}

func (s *Server) query(w http.ResponseWriter, soql string) {
	if strings.TrimSpace(soql) == "" {
		apiErrors(w, 400, apiErr{"MALFORMED_QUERY", "A query string has to be specified", nil})
		return
	}
	q, err := parseQuery(soql)
	s.mu.Lock()
	noSemi := s.noSemiJoins
	s.mu.Unlock()
	if err == nil && noSemi && q.where != nil && hasSemiJoin(q.where) {
		err = &queryError{"MALFORMED_QUERY", "semi join sub-selects are not supported here"}
	}
	if err == nil {
		s.mu.Lock()
		var rows []Record
		var total int
		rows, total, err = s.run(q)
		if err == nil {
			s.page(w, rows, total, q.count)
		}
		s.mu.Unlock()
	}
	var qe *queryError
	if errors.As(err, &qe) {
		apiErrors(w, 400, apiErr{qe.code, qe.msg, nil})
	}
}

// page answers one batch; s.mu is held.
func (s *Server) page(w http.ResponseWriter, rows []Record, total int, count bool) {
	body := map[string]any{"totalSize": total, "done": true, "records": []Record{}}
	if count {
		writeJSON(w, 200, body)
		return
	}
	if len(rows) > s.batch {
		id := fmt.Sprintf("01g5g00000%s-%d", randToken(6), s.batch)
		s.cursors[id] = rows[s.batch:]
		rows = rows[:s.batch]
		body["done"] = false
		body["nextRecordsUrl"] = "/services/data/" + s.version + "/query/" + id
	}
	if rows != nil {
		body["records"] = rows
	}
	writeJSON(w, 200, body)
}

func (s *Server) more(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, ok := s.cursors[id]
	if !ok {
		apiErrors(w, 400, apiErr{"INVALID_QUERY_LOCATOR", "invalid query locator", nil})
		return
	}
	delete(s.cursors, id)
	s.page(w, rows, len(rows), false)
}

func (s *Server) sobject(w http.ResponseWriter, r *http.Request, user string, parts []string) {
	s.mu.Lock()
	o := s.objects[strings.ToLower(parts[0])]
	s.mu.Unlock()
	if o == nil {
		apiErrors(w, 404, apiErr{"NOT_FOUND", "The requested resource does not exist", nil})
		return
	}
	switch {
	case len(parts) == 2 && parts[1] == "describe" && r.Method == http.MethodGet:
		s.describe(w, o)
	case len(parts) == 1 && r.Method == http.MethodPost:
		s.create(w, r, o, user)
	case len(parts) == 2 && r.Method == http.MethodGet:
		s.mu.Lock()
		rec := o.byID(parts[1])
		var out Record
		if rec != nil {
			var fields []string
			for _, f := range o.Fields {
				// Field-level security: a field the user may not read
				// is left out of the record.
				if s.fieldAccessLocked(o.Name, f.Name) != "hidden" {
					fields = append(fields, f.Name)
				}
			}
			out = s.render(o, rec, fields)
		}
		s.mu.Unlock()
		if out == nil {
			apiErrors(w, 404, apiErr{"NOT_FOUND", "The requested resource does not exist", nil})
			return
		}
		writeJSON(w, 200, out)
	case len(parts) == 2 && r.Method == http.MethodPatch:
		s.update(w, r, o, parts[1])
	case len(parts) == 2 && r.Method == http.MethodDelete:
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, rec := range o.rows {
			if sameID(rec["Id"].(string), parts[1]) {
				o.rows = append(o.rows[:i], o.rows[i+1:]...)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		apiErrors(w, 404, apiErr{"ENTITY_IS_DELETED", "entity is deleted", nil})
	default:
		w.Header().Set("Allow", "GET, POST, PATCH, DELETE, HEAD")
		apiErrors(w, 405, apiErr{"METHOD_NOT_ALLOWED", "HTTP Method '" + r.Method + "' not allowed. Allowed are GET,PATCH,DELETE,HEAD", nil})
	}
}

func (s *Server) describe(w http.ResponseWriter, o *object) {
	var fields []map[string]any
	for _, f := range o.Fields {
		acc := s.fieldAccess(o.Name, f.Name)
		if acc == "hidden" {
			continue
		}
		writable := !f.ReadOnly && f.Name != "Id" && acc != "readonly"
		d := map[string]any{
			"name": f.Name, "label": f.Label, "type": f.Type,
			"nillable": !f.Required, "createable": writable, "updateable": writable,
			"defaultedOnCreate": f.DefaultVal != nil, "picklistValues": []map[string]any{},
		}
		if f.ReferTo != "" {
			d["referenceTo"] = []string{f.ReferTo}
			d["relationshipName"] = f.Rel
		} else {
			d["referenceTo"] = []string{}
		}
		var pl []map[string]any
		for _, v := range f.Picklist {
			pl = append(pl, map[string]any{"value": v, "label": v, "active": true, "defaultValue": false})
		}
		if pl != nil {
			d["picklistValues"] = pl
		}
		fields = append(fields, d)
	}
	writeJSON(w, 200, map[string]any{"name": o.Name, "label": o.Name, "keyPrefix": o.Prefix,
		"createable": true, "updateable": true, "deletable": true, "queryable": true, "fields": fields})
}

// decodeFields reads a create/update body, checking field names and types.
func (s *Server) decodeFields(w http.ResponseWriter, r *http.Request, o *object) (Record, bool) {
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		apiErrors(w, 400, apiErr{"JSON_PARSER_ERROR", "The request body is not valid JSON: " + err.Error(), nil})
		return nil, false
	}
	out := Record{}
	for k, v := range in {
		if k == "attributes" {
			continue
		}
		f, ok := o.field(k)
		acc := s.fieldAccess(o.Name, k)
		if !ok || acc == "hidden" {
			apiErrors(w, 400, apiErr{"INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", k, o.Name), nil})
			return nil, false
		}
		if f.ReadOnly || f.Name == "Id" || acc == "readonly" {
			apiErrors(w, 400, apiErr{"INVALID_FIELD_FOR_INSERT_UPDATE", fmt.Sprintf("Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", f.Name), []string{f.Name}})
			return nil, false
		}
		switch v.(type) {
		case nil, string, float64, bool:
		default:
			apiErrors(w, 400, apiErr{"JSON_PARSER_ERROR", fmt.Sprintf("Cannot deserialize instance of %s from %T value", f.Type, v), nil})
			return nil, false
		}
		if f.Type == "picklist" && v != nil && len(f.Picklist) > 0 {
			okv := false
			for _, p := range f.Picklist {
				okv = okv || p == v
			}
			if !okv {
				apiErrors(w, 400, apiErr{"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", fmt.Sprintf("%s: bad value for restricted picklist field: %v", f.Label, v), []string{f.Name}})
				return nil, false
			}
		}
		if f.Type == "reference" && v != nil {
			id, _ := v.(string)
			if len(id) != 15 && len(id) != 18 {
				apiErrors(w, 400, apiErr{"MALFORMED_ID", fmt.Sprintf("%s: id value of incorrect type: %v", f.Label, v), []string{f.Name}})
				return nil, false
			}
		}
		out[f.Name] = v
	}
	return out, true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, o *object, user string) {
	in, ok := s.decodeFields(w, r, o)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Record{}
	for _, f := range o.Fields {
		rec[f.Name] = f.DefaultVal
	}
	for k, v := range in {
		rec[k] = v
	}
	var missing []string
	for _, f := range o.Fields {
		if f.Required && (rec[f.Name] == nil || rec[f.Name] == "") {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		apiErrors(w, 400, apiErr{"REQUIRED_FIELD_MISSING", "Required fields are missing: [" + strings.Join(missing, ", ") + "]", missing})
		return
	}
	for _, f := range o.Fields {
		// A reference must name a record that exists (of the parent
		// object, or of any for a polymorphic field).
		id, _ := rec[f.Name].(string)
		if f.Type != "reference" || id == "" || f.Name == "OwnerId" {
			continue
		}
		if !s.exists(f.ReferTo, id) {
			apiErrors(w, 400, apiErr{"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []string{f.Name}})
			return
		}
	}
	if e := s.violated(o.Name, rec); e != nil {
		apiErrors(w, 400, *e)
		return
	}
	if o.Name == "Contact" || o.Name == "Lead" {
		// The standard duplicate rule: same email.
		if e, _ := rec["Email"].(string); e != "" {
			for _, other := range o.rows {
				if oe, _ := other["Email"].(string); strings.EqualFold(oe, e) {
					apiErrors(w, 400, apiErr{"DUPLICATES_DETECTED", "Use one of these records?", nil})
					return
				}
			}
		}
	}
	if _, ok := o.field("OwnerId"); ok && rec["OwnerId"] == nil {
		rec["OwnerId"] = user
	}
	now := time.Now().UTC().Format(dateTimeFormat)
	if _, ok := o.field("CreatedDate"); ok {
		rec["CreatedDate"], rec["LastModifiedDate"] = now, now
	}
	rec["Id"] = s.newID(o.Prefix)
	derive(o, rec)
	o.rows = append(o.rows, rec)
	writeJSON(w, 201, map[string]any{"id": rec["Id"], "success": true, "errors": []any{}})
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, o *object, id string) {
	in, ok := s.decodeFields(w, r, o)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := o.byID(id)
	if rec == nil {
		apiErrors(w, 404, apiErr{"ENTITY_IS_DELETED", "entity is deleted", nil})
		return
	}
	for _, f := range o.Fields {
		if v, set := in[f.Name]; set && f.Required && (v == nil || v == "") {
			apiErrors(w, 400, apiErr{"REQUIRED_FIELD_MISSING", "Required fields are missing: [" + f.Name + "]", []string{f.Name}})
			return
		}
	}
	after := Record{}
	for k, v := range rec {
		after[k] = v
	}
	for k, v := range in {
		after[k] = v
	}
	if e := s.violated(o.Name, after); e != nil {
		apiErrors(w, 400, *e)
		return
	}
	for k, v := range in {
		rec[k] = v
	}
	derive(o, rec)
	if _, ok := o.field("LastModifiedDate"); ok {
		rec["LastModifiedDate"] = time.Now().UTC().Format(dateTimeFormat)
	}
	w.WriteHeader(http.StatusNoContent)
}

// derive sets the fields Salesforce computes: a Contact's Name, a Case's
// CaseNumber, IsClosed of closed stages and statuses.
func derive(o *object, r Record) {
	switch o.Name {
	case "Contact":
		first, _ := r["FirstName"].(string)
		last, _ := r["LastName"].(string)
		r["Name"] = strings.TrimSpace(first + " " + last)
	case "Opportunity":
		st, _ := r["StageName"].(string)
		r["IsClosed"] = strings.HasPrefix(st, "Closed")
	case "Case":
		st, _ := r["Status"].(string)
		r["IsClosed"] = st == "Closed"
		if r["CaseNumber"] == nil {
			r["CaseNumber"] = fmt.Sprintf("%08d", len(o.rows)+1001)
		}
	}
}

// schema is the standard objects the fake holds, with the fields of them
// sidedesk and its tests use (names and types from the Object Reference).
func schema() []*object {
	sys := []field{
		{Name: "Id", Type: "id", Label: "Record ID", ReadOnly: true},
		{Name: "CreatedDate", Type: "datetime", Label: "Created Date", ReadOnly: true},
		{Name: "LastModifiedDate", Type: "datetime", Label: "Last Modified Date", ReadOnly: true},
	}
	owner := field{Name: "OwnerId", Type: "reference", Label: "Owner ID", ReferTo: "User", Rel: "Owner"}
	with := func(fs ...field) []field { return append(append([]field{}, sys...), fs...) }
	return []*object{
		{Name: "User", Prefix: "005", Fields: with(
			field{Name: "Name", Type: "string", Label: "Full Name", ReadOnly: true},
			field{Name: "Email", Type: "email", Label: "Email"},
			field{Name: "Username", Type: "string", Label: "Username"})},
		{Name: "Account", Prefix: "001", Fields: with(owner,
			field{Name: "Name", Type: "string", Label: "Account Name", Required: true},
			field{Name: "Website", Type: "url", Label: "Website"},
			field{Name: "Type", Type: "picklist", Label: "Account Type", Picklist: []string{"Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller", "Installation Partner", "Technology Partner", "Other"}},
			field{Name: "Industry", Type: "picklist", Label: "Industry"},
			field{Name: "AnnualRevenue", Type: "currency", Label: "Annual Revenue"},
			field{Name: "Phone", Type: "phone", Label: "Account Phone"})},
		{Name: "Contact", Prefix: "003", Fields: with(owner,
			field{Name: "FirstName", Type: "string", Label: "First Name"},
			field{Name: "LastName", Type: "string", Label: "Last Name", Required: true},
			field{Name: "Name", Type: "string", Label: "Full Name", ReadOnly: true},
			field{Name: "Email", Type: "email", Label: "Email"},
			field{Name: "Phone", Type: "phone", Label: "Business Phone"},
			field{Name: "Title", Type: "string", Label: "Title"},
			field{Name: "AccountId", Type: "reference", Label: "Account ID", ReferTo: "Account", Rel: "Account"})},
		{Name: "Lead", Prefix: "00Q", Fields: with(owner,
			field{Name: "FirstName", Type: "string", Label: "First Name"},
			field{Name: "LastName", Type: "string", Label: "Last Name", Required: true},
			field{Name: "Email", Type: "email", Label: "Email"},
			field{Name: "Company", Type: "string", Label: "Company", Required: true},
			field{Name: "Status", Type: "picklist", Label: "Lead Status", Picklist: []string{"Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"}, DefaultVal: "Open - Not Contacted"},
			field{Name: "IsConverted", Type: "boolean", Label: "Converted", ReadOnly: true, DefaultVal: false})},
		{Name: "Opportunity", Prefix: "006", Fields: with(owner,
			field{Name: "Name", Type: "string", Label: "Name", Required: true},
			field{Name: "StageName", Type: "picklist", Label: "Stage", Required: true, Picklist: []string{"Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"}},
			field{Name: "Amount", Type: "currency", Label: "Amount"},
			field{Name: "CloseDate", Type: "date", Label: "Close Date", Required: true},
			field{Name: "IsClosed", Type: "boolean", Label: "Closed", ReadOnly: true, DefaultVal: false},
			field{Name: "AccountId", Type: "reference", Label: "Account ID", ReferTo: "Account", Rel: "Account"})},
		{Name: "Case", Prefix: "500", Fields: with(owner,
			field{Name: "CaseNumber", Type: "string", Label: "Case Number", ReadOnly: true},
			field{Name: "Subject", Type: "string", Label: "Subject"},
			field{Name: "Status", Type: "picklist", Label: "Status", Picklist: []string{"New", "Working", "Escalated", "Closed"}, DefaultVal: "New"},
			field{Name: "IsClosed", Type: "boolean", Label: "Closed", ReadOnly: true, DefaultVal: false},
			field{Name: "AccountId", Type: "reference", Label: "Account ID", ReferTo: "Account", Rel: "Account"},
			field{Name: "ContactId", Type: "reference", Label: "Contact ID", ReferTo: "Contact", Rel: "Contact"})},
		// Campaign's standard fields (Object Reference: Campaign); Type and
		// Status with the values of a new org.
		{Name: "Campaign", Prefix: "701", Fields: with(owner,
			field{Name: "Name", Type: "string", Label: "Campaign Name", Required: true},
			field{Name: "Type", Type: "picklist", Label: "Type", Picklist: []string{"Conference", "Webinar", "Trade Show", "Public Relations", "Partners", "Referral Program", "Advertisement", "Banner Ads", "Direct Mail", "Email", "Telemarketing", "Other"}},
			field{Name: "Status", Type: "picklist", Label: "Status", Picklist: []string{"Planned", "In Progress", "Completed", "Aborted"}, DefaultVal: "Planned"},
			field{Name: "StartDate", Type: "date", Label: "Start Date"},
			field{Name: "EndDate", Type: "date", Label: "End Date"},
			field{Name: "IsActive", Type: "boolean", Label: "Active", DefaultVal: false},
			field{Name: "BudgetedCost", Type: "currency", Label: "Budgeted Cost in Campaign"},
			field{Name: "Description", Type: "textarea", Label: "Description"},
			field{Name: "NumberOfLeads", Type: "int", Label: "Leads in Campaign", ReadOnly: true, DefaultVal: float64(0)})},
		{Name: "Task", Prefix: "00T", Fields: with(owner,
			field{Name: "Subject", Type: "combobox", Label: "Subject"},
			field{Name: "Description", Type: "textarea", Label: "Comments"},
			field{Name: "Status", Type: "picklist", Label: "Status", Required: true, Picklist: []string{"Not Started", "In Progress", "Completed"}, DefaultVal: "Not Started"},
			field{Name: "TaskSubtype", Type: "picklist", Label: "Task Subtype", Picklist: []string{"Task", "Email", "Call"}},
			field{Name: "ActivityDate", Type: "date", Label: "Due Date Only"},
			// Polymorphic: Who is a Contact or Lead, What any other record.
			field{Name: "WhoId", Type: "reference", Label: "Name ID", ReferTo: "*", Rel: "Who"},
			field{Name: "WhatId", Type: "reference", Label: "Related To ID", ReferTo: "*", Rel: "What"})},
		// EmailMessage: Status 0 New, 1 Read, 2 Replied, 3 Sent, 4
		// Forwarded, 5 Draft; RelatedToId is polymorphic (any "What"
		// object), ParentId a Case.
		{Name: "EmailMessage", Prefix: "02s", Fields: with(
			field{Name: "Subject", Type: "string", Label: "Subject"},
			field{Name: "TextBody", Type: "textarea", Label: "Text Body"},
			field{Name: "HtmlBody", Type: "textarea", Label: "HTML Body"},
			field{Name: "FromAddress", Type: "email", Label: "From Address"},
			field{Name: "FromName", Type: "string", Label: "From Name"},
			field{Name: "ToAddress", Type: "string", Label: "To Address"},
			field{Name: "CcAddress", Type: "string", Label: "CC Address"},
			field{Name: "MessageDate", Type: "datetime", Label: "Message Date"},
			field{Name: "Incoming", Type: "boolean", Label: "Is Incoming", DefaultVal: false},
			field{Name: "Status", Type: "picklist", Label: "Status", Required: true, Picklist: []string{"0", "1", "2", "3", "4", "5"}},
			field{Name: "MessageIdentifier", Type: "string", Label: "Message ID"},
			field{Name: "ThreadIdentifier", Type: "string", Label: "Thread ID"},
			field{Name: "RelatedToId", Type: "reference", Label: "Related To ID", ReferTo: "*", Rel: "RelatedTo"},
			field{Name: "ParentId", Type: "reference", Label: "Case ID", ReferTo: "Case", Rel: "Parent"})},
		{Name: "LeadStatus", Prefix: "01J", Fields: with(
			field{Name: "MasterLabel", Type: "string", Label: "Master Label"},
			field{Name: "IsConverted", Type: "boolean", Label: "Is Converted"},
			field{Name: "SortOrder", Type: "int", Label: "Sort Order"})},
		// ContentVersion: a file; VersionData is base64 in JSON.
		{Name: "ContentVersion", Prefix: "068", Fields: with(
			field{Name: "Title", Type: "string", Label: "Title", Required: true},
			field{Name: "PathOnClient", Type: "string", Label: "Path On Client", Required: true},
			field{Name: "VersionData", Type: "base64", Label: "Version Data", Required: true},
			field{Name: "FirstPublishLocationId", Type: "reference", Label: "First Publish Location ID", ReferTo: "*", Rel: "FirstPublishLocation"})},
		{Name: "EmailMessageRelation", Prefix: "0CX", Fields: with(
			field{Name: "EmailMessageId", Type: "reference", Label: "Email Message ID", Required: true, ReferTo: "EmailMessage", Rel: "EmailMessage"},
			field{Name: "RelationId", Type: "reference", Label: "Relation ID", ReferTo: "*", Rel: "Relation"},
			field{Name: "RelationType", Type: "picklist", Label: "Relation Type", Required: true, Picklist: []string{"FromAddress", "ToAddress", "CcAddress", "BccAddress"}},
			field{Name: "RelationAddress", Type: "string", Label: "Relation Address"})},
	}
}

// exists reports whether a record of object obj ("*": any) has id; the
// caller holds mu.
func (s *Server) exists(obj, id string) bool {
	for _, o := range s.objects {
		if obj != "*" && !strings.EqualFold(o.Name, obj) {
			continue
		}
		if o.byID(id) != nil {
			return true
		}
	}
	return false
}
