package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCRMRecordsAPI drives /api/v1/crm/{object} of the running demo (the
// local CRM, seeded): list and filter, read, create, change, delete, each
// refusal naming the field, and the scopes.
func TestCRMRecordsAPI(t *testing.T) {
	data := t.TempDir()
	d := startDemo(t, data)
	cli := d.cli(t, data)
	token := func(name, scopes string) string {
		out, err := cli("token", "create", "--name", name, "--scopes", scopes)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	writer, reader := token("crm", "crm:read,crm:write"), token("reader", "crm:read,tickets:read")
	call := func(token, method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, d.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	errMsg := func(m map[string]any) string {
		e, _ := m["error"].(map[string]any)
		s, _ := e["message"].(string)
		return s
	}
	// The seeded CRM: find Globex by name, its contacts by account.
	code, m := call(d.token, "GET", "/api/v1/crm/accounts?name=glob", "")
	recs, _ := m["records"].([]any)
	if code != 200 || len(recs) == 0 {
		t.Fatalf("GET accounts?name=glob: %d %v", code, m)
	}
	globex := recs[0].(map[string]any)
	if !strings.HasPrefix(globex["name"].(string), "Globex") || globex["object"] != "account" {
		t.Fatalf("first account: %v", globex)
	}
	gid := globex["id"].(string)
	// By email: the primary address and another contact's other address
	// (the demo CRM has a duplicate).
	code, m = call(d.token, "GET", "/api/v1/crm/contacts?email=anna.schmidt@globex.example", "")
	recs, _ = m["records"].([]any)
	if code != 200 || len(recs) != 2 {
		t.Fatalf("GET contacts?email=: %d %v", code, m)
	}
	for _, r := range recs {
		if r := r.(map[string]any); r["account_id"] != gid || r["api_url"] != d.base+"/api/v1/crm/contacts/"+r["id"].(string) {
			t.Errorf("contact %v: want Globex's, with its API link", r)
		}
	}
	// A crm:read token may read, not write.
	if code, m := call(reader, "GET", "/api/v1/crm/leads", ""); code != 200 || len(m["records"].([]any)) == 0 {
		t.Errorf("GET leads with crm:read: %d %v", code, m)
	}
	if code, m := call(reader, "POST", "/api/v1/crm/contacts", `{"last_name":"X"}`); code != 403 || !strings.Contains(errMsg(m), "crm:write") {
		t.Errorf("POST with a read-only token: %d %v", code, m)
	}
	// Create a contact at Globex, with a second address.
	code, m = call(writer, "POST", "/api/v1/crm/contacts", fmt.Sprintf(`{"first_name":"Neu","last_name":"Kontakt","email":"Neu@Globex.example","other_emails":["neu.k@globex.example"],"account_id":%q}`, gid))
	if code != 201 || m["email"] != "neu@globex.example" || m["account_id"] != gid {
		t.Fatalf("POST contact: %d %v", code, m)
	}
	cid := m["id"].(string)
	// Its second address finds it (the look-up table is kept).
	if code, m := call(d.token, "GET", "/api/v1/crm/contacts?email=neu.k@globex.example", ""); code != 200 || len(m["records"].([]any)) != 1 {
		t.Errorf("contact by its other address: %d %v", code, m)
	}
	// Change: the title set, the other address dropped.
	code, m = call(writer, "PATCH", "/api/v1/crm/contacts/"+cid, `{"title":"CTO","other_emails":[]}`)
	if code != 200 || m["title"] != "CTO" || m["last_name"] != "Kontakt" {
		t.Fatalf("PATCH contact: %d %v", code, m)
	}
	if code, m := call(d.token, "GET", "/api/v1/crm/contacts?email=neu.k@globex.example", ""); code != 200 || len(m["records"].([]any)) != 0 {
		t.Errorf("a dropped address still finds the contact: %d %v", code, m)
	}
	// Refusals name the field.
	for _, bad := range []struct{ method, path, body, field string }{
		{"POST", "/api/v1/crm/contacts", `{"first_name":"no last name"}`, "last_name"},
		{"POST", "/api/v1/crm/contacts", `{"last_name":"X","email":"not an address"}`, "email"},
		{"POST", "/api/v1/crm/contacts", `{"last_name":"X","shoe_size":44}`, "shoe_size"},
		{"POST", "/api/v1/crm/contacts", `{"last_name":"X","account_id":"999999"}`, "account_id"},
		{"POST", "/api/v1/crm/opportunities", `{"name":"Deal","stage":"Prospecting","close_date":"next week"}`, "close_date"},
		{"PATCH", "/api/v1/crm/contacts/" + cid, `{"last_name":""}`, "last_name"},
		{"PATCH", "/api/v1/crm/opportunities/1", `{"closed":true}`, "closed"},
	} {
		if code, m := call(writer, bad.method, bad.path, bad.body); code != 400 || !strings.HasPrefix(errMsg(m), bad.field) {
			t.Errorf("%s %s %s: %d %q, want 400 naming %s", bad.method, bad.path, bad.body, code, errMsg(m), bad.field)
		}
	}
	if code, m := call(d.token, "GET", "/api/v1/crm/widgets", ""); code != 404 || !strings.Contains(errMsg(m), "accounts, contacts") {
		t.Errorf("an unknown object: %d %v", code, m)
	}
	// An opportunity closes with its stage.
	code, m = call(writer, "POST", "/api/v1/crm/opportunities", fmt.Sprintf(`{"name":"Renewal","stage":"Closed Won","amount":1200,"close_date":"2027-01-31","account_id":%q}`, gid))
	if code != 201 || m["closed"] != true || m["close_date"] != "2027-01-31" || m["amount"] != 1200.0 {
		t.Errorf("POST opportunity: %d %v", code, m)
	}
	// Campaigns, as Salesforce has them.
	code, m = call(writer, "POST", "/api/v1/crm/campaigns", `{"name":"Spring webinar","type":"Webinar","status":"Planned","start_date":"2027-03-01","active":true,"budgeted_cost":1500}`)
	if code != 201 || m["object"] != "campaign" || m["active"] != true || m["start_date"] != "2027-03-01" || m["budgeted_cost"] != 1500.0 {
		t.Fatalf("POST campaign: %d %v", code, m)
	}
	camp := m["id"].(string)
	if code, m := call(writer, "PATCH", "/api/v1/crm/campaigns/"+camp, `{"status":"In Progress","end_date":"2027-03-31","active":false}`); code != 200 ||
		m["status"] != "In Progress" || m["end_date"] != "2027-03-31" || m["active"] != false || m["name"] != "Spring webinar" {
		t.Errorf("PATCH campaign: %d %v", code, m)
	}
	if code, m := call(d.token, "GET", "/api/v1/crm/campaigns?name=spring", ""); code != 200 || len(m["records"].([]any)) != 1 {
		t.Errorf("GET campaigns?name=spring: %d %v", code, m)
	}
	if code, m := call(writer, "POST", "/api/v1/crm/campaigns", `{"type":"Email"}`); code != 400 || !strings.HasPrefix(errMsg(m), "name") {
		t.Errorf("a campaign without a name: %d %v, want 400 naming name", code, m)
	}
	if code, _ := call(writer, "DELETE", "/api/v1/crm/campaigns/"+camp, ""); code != 204 {
		t.Errorf("DELETE campaign: %d", code)
	}
	// Delete: gone, and gone again is 404.
	if code, _ := call(writer, "DELETE", "/api/v1/crm/contacts/"+cid, ""); code != 204 {
		t.Fatalf("DELETE contact: %d", code)
	}
	if code, _ := call(d.token, "GET", "/api/v1/crm/contacts/"+cid, ""); code != 404 {
		t.Errorf("GET a deleted contact: %d, want 404", code)
	}
	if code, _ := call(writer, "DELETE", "/api/v1/crm/contacts/"+cid, ""); code != 404 {
		t.Errorf("DELETE it again: %d, want 404", code)
	}
	if code, m := call(d.token, "GET", "/api/v1/crm/contacts?email=neu@globex.example", ""); code != 200 || len(m["records"].([]any)) != 0 {
		t.Errorf("a deleted contact is still found by email: %v", m)
	}
}
