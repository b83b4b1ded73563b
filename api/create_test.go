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
		`{"requester":{"email":"a@b.example"},"subject":"x","custom_fields":{"plan":"gold"}}`,
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
