package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCreateTicketAndNote: POST /api/v1/tickets opens a ticket (its body
// kept as a note), a retry with the same Idempotency-Key answers the same
// ticket, the key with another request is refused; POST .../notes adds a
// note; bad input names the field.
func TestCreateTicketAndNote(t *testing.T) {
	f := newFixture(t)
	post := func(path, body string, hdr ...string) (*http.Response, []byte) {
		return f.do(http.MethodPost, path, f.tokenA, strings.NewReader(body), append([]string{"Content-Type", "application/json"}, hdr...)...)
	}
	req := `{"requester":{"name":"Pat Phone","email":"Pat@Customer.example"},"subject":"Called about invoice","body":"Pat says invoice 42 is wrong.","priority":"high"}`
	res, body := post("/api/v1/tickets", req, "Idempotency-Key", "call-1")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/tickets: %d %s", res.StatusCode, body)
	}
	tk := decode[ticketJSON](t, body)
	if tk.Subject != "Called about invoice" || tk.Requester.Email != "pat@customer.example" || tk.Priority != "high" || tk.Number == 0 {
		t.Fatalf("created %+v", tk)
	}
	res, body = post("/api/v1/tickets", req, "Idempotency-Key", "call-1")
	if again := decode[ticketJSON](t, body); res.StatusCode != http.StatusOK || again.ID != tk.ID || res.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry: %d %+v %v, want the same ticket", res.StatusCode, again, res.Header)
	}
	res, body = post("/api/v1/tickets", strings.Replace(req, "invoice 42", "invoice 43", 1), "Idempotency-Key", "call-1")
	if code, _ := apiError(t, body); res.StatusCode != http.StatusUnprocessableEntity || code != "idempotency_conflict" {
		t.Errorf("reused key: %d %s", res.StatusCode, body)
	}
	_, body = f.get("/api/v1/tickets/"+strconv.FormatInt(tk.ID, 10), f.tokenA)
	det := decode[ticketWithMessagesJSON](t, body)
	if len(det.Messages) != 1 || det.Messages[0].Direction != "note" || !strings.Contains(det.Messages[0].Text, "invoice 42") {
		t.Errorf("ticket messages %+v, want the body as a note", det.Messages)
	}
	res, body = post("/api/v1/tickets/"+strconv.FormatInt(tk.ID, 10)+"/notes", `{"text":"Called back, no answer."}`)
	if m := decode[messageJSON](t, body); res.StatusCode != http.StatusCreated || m.Direction != "note" || !strings.Contains(m.From.Email, "api:") {
		t.Errorf("note: %d %s", res.StatusCode, body)
	}
	for _, bad := range []string{
		`{"requester":{"email":"not an address"},"subject":"x"}`,
		`{"requester":{"email":"a@b.example"},"subject":"x","priority":"whenever"}`,
		`{"requester":{"email":"a@b.example"},"subject":"x","tags":["v i p"]}`,
		`{"requester":{"email":"a@b.example"},"subject":"x","custom_fields":{"Plan":"gold"}}`,
		`{"requester":{"email":"a@b.example"},"subject":"x","custom_fields":{"plan":{"tier":"gold"}}}`,
		`{"requester":{"email":"a@b.example"},"subject":"x","customfields":{"plan":"gold"}}`,
	} {
		res, body := post("/api/v1/tickets", bad)
		if _, msg := apiError(t, body); res.StatusCode != http.StatusBadRequest || msg == "" {
			t.Errorf("%s: %d %s", bad, res.StatusCode, body)
		}
	}
	if res, _ := post("/api/v1/tickets/"+strconv.FormatInt(tk.ID, 10)+"/notes", `{"text":""}`); res.StatusCode != http.StatusBadRequest {
		t.Errorf("empty note: %d, want 400", res.StatusCode)
	}
	if res, body := post("/api/v1/tickets", `{"requester":{"email":"a@b.example"},"subject":"x","body":"hi","send_mail":true}`); res.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(string(body), "smtp_host") {
		t.Errorf("send_mail without a sending mailbox: %d %s", res.StatusCode, body)
	}
}

// TestCustomFieldsAndMerge: custom fields are set on create, changed and
// removed by PATCH; POST .../merge moves tickets into one, the merged ones
// name it, another tenant's tickets cannot be merged, bad input is named.
func TestCustomFieldsAndMerge(t *testing.T) {
	f := newFixture(t)
	send := func(method, path, body, token string) (*http.Response, []byte) {
		return f.do(method, path, token, strings.NewReader(body), "Content-Type", "application/json")
	}
	create := func(subject, fields string) ticketJSON {
		t.Helper()
		res, body := send("POST", "/api/v1/tickets", `{"requester":{"email":"ann@customer.example"},"subject":"`+subject+`","custom_fields":`+fields+`}`, f.tokenA)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", res.StatusCode, body)
		}
		return decode[ticketJSON](t, body)
	}
	a := create("Order late", `{"order_id":"A-17","vip":true,"seats":12}`)
	if a.CustomFields["order_id"] != "A-17" || a.CustomFields["vip"] != true || a.CustomFields["seats"] != 12.0 {
		t.Fatalf("created with custom_fields %v", a.CustomFields)
	}
	b := create("Order still late", `{"region":"eu"}`)
	res, body := send("PATCH", fmt.Sprintf("/api/v1/tickets/%d", a.ID), `{"custom_fields":{"vip":null,"order_id":"A-18"}}`, f.tokenA)
	if p := decode[ticketJSON](t, body); res.StatusCode != 200 || p.CustomFields["order_id"] != "A-18" || p.CustomFields["vip"] != nil || p.CustomFields["seats"] != 12.0 {
		t.Fatalf("PATCH custom_fields: %d %s", res.StatusCode, body)
	}
	if res, body := send("PATCH", fmt.Sprintf("/api/v1/tickets/%d", a.ID), `{"custom_fields":{"a b":"x"}}`, f.tokenA); res.StatusCode != 400 || !strings.Contains(string(body), `a b`) {
		t.Errorf("PATCH a bad key: %d %s, want 400 naming it", res.StatusCode, body)
	}
	// Another tenant's ticket is not there to merge; nor a missing one.
	res, body = send("POST", "/api/v1/tickets", `{"requester":{"email":"x@y.example"},"subject":"theirs"}`, f.tokenB)
	theirs := decode[ticketJSON](t, body)
	for _, bad := range []struct {
		body string
		code int
	}{
		{fmt.Sprintf(`{"ids":[%d]}`, theirs.ID), 400},
		{`{"ids":[]}`, 400},
		{fmt.Sprintf(`{"ids":[%d]}`, a.ID), 400},
		{`{"id":[1]}`, 400},
	} {
		if res, body := send("POST", fmt.Sprintf("/api/v1/tickets/%d/merge", a.ID), bad.body, f.tokenA); res.StatusCode != bad.code {
			t.Errorf("merge %s: %d %s, want %d", bad.body, res.StatusCode, body, bad.code)
		}
	}
	if res, _ := send("POST", fmt.Sprintf("/api/v1/tickets/%d/merge", theirs.ID), fmt.Sprintf(`{"ids":[%d]}`, b.ID), f.tokenA); res.StatusCode != 404 {
		t.Errorf("merging into another tenant's ticket: %d, want 404", res.StatusCode)
	}
	res, body = send("POST", fmt.Sprintf("/api/v1/tickets/%d/merge", a.ID), fmt.Sprintf(`{"ids":[%d]}`, b.ID), f.tokenA)
	if m := decode[ticketJSON](t, body); res.StatusCode != 200 || m.ID != a.ID || m.CustomFields["region"] != "eu" || m.CustomFields["order_id"] != "A-18" {
		t.Fatalf("merge: %d %s", res.StatusCode, body)
	}
	_, body = f.get(fmt.Sprintf("/api/v1/tickets/%d", b.ID), f.tokenA)
	if src := decode[ticketWithMessagesJSON](t, body); src.MergedInto != a.ID || src.Status != "closed" || len(src.Messages) != 0 {
		t.Errorf("the merged ticket: %s", body)
	}
	_, body = f.get(fmt.Sprintf("/api/v1/tickets/%d", a.ID), f.tokenA)
	if tgt := decode[ticketWithMessagesJSON](t, body); len(tgt.Messages) != 3 || !strings.Contains(tgt.Messages[2].Text, "Order still late") {
		t.Errorf("the target after the merge has %d messages: %s", len(tgt.Messages), body)
	}
}

// TestSearchRoute: words of a message find its ticket; bad parameters are
// named.
func TestSearchRoute(t *testing.T) {
	f := newFixture(t)
	res := f.ingest(inMail{from: "pat@globex.example", subject: "Invoice 4711 wrong"})
	f.ingest(inMail{from: "sam@initech.example", subject: "Printer on fire"})
	_, body := f.get("/api/v1/search?q=invoice+wrong", f.tokenA)
	var out struct{ Tickets []ticketJSON }
	if err := json.Unmarshal(body, &out); err != nil || len(out.Tickets) != 1 || out.Tickets[0].ID != res.TicketID {
		t.Fatalf("search: %s", body)
	}
	if _, body := f.get("/api/v1/search?q=invoice", f.tokenB); strings.Contains(string(body), "Invoice") {
		t.Errorf("another tenant finds it: %s", body)
	}
	for _, q := range []string{"", "q=x&status=later", "q=x&limit=0", "q=x&sort=new"} {
		if res, _ := f.get("/api/v1/search?"+q, f.tokenA); res.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", q, res.StatusCode)
		}
	}
}

// TestTicketMessagesPaged: the thread comes a page at a time in stored
// order, each message once.
func TestTicketMessagesPaged(t *testing.T) {
	f := newFixture(t)
	res := f.ingest(inMail{from: "c@customer.example", subject: "Long thread"})
	for range 4 {
		f.ingest(inMail{from: "c@customer.example", subject: "Re: Long thread", inReplyTo: fmt.Sprintf("m%d@customer.example", f.seq)})
	}
	path := "/api/v1/tickets/" + strconv.FormatInt(res.TicketID, 10) + "/messages?limit=2"
	var ids []int64
	for cursor, pages := "", 0; pages < 10; pages++ {
		_, body := f.get(path+"&cursor="+cursor, f.tokenA)
		var page struct {
			Messages   []messageJSON
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Messages {
			ids = append(ids, m.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(ids) != 5 || !slices.IsSorted(ids) {
		t.Errorf("paged ids %v, want 5 in order", ids)
	}
	if res, _ := f.get(path+"&cursor=x", f.tokenA); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad cursor: %d", res.StatusCode)
	}
	if res, _ := f.get("/api/v1/tickets/"+strconv.FormatInt(res.TicketID, 10)+"/messages", f.tokenB); res.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant: %d, want 404", res.StatusCode)
	}
}
