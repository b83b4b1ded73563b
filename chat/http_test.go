package chat

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/sidedesk/sidedesk/ticket"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

func sign(req *http.Request, body []byte, secret string, at time.Time) {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
}

// blockActionPayload is what Slack posts when a user clicks an alert's
// element (https://api.slack.com/reference/interaction-payloads/block-actions).
func blockActionPayload(user, actionID, value, selected string) string {
	action := map[string]any{"type": "button", "action_id": actionID, "block_id": "sidedesk_actions", "value": value,
		"action_ts": "1700000100.000100"}
	if selected != "" {
		action = map[string]any{"type": "static_select", "action_id": actionID, "block_id": "sidedesk_actions",
			"selected_option": map[string]any{"value": selected, "text": map[string]any{"type": "plain_text", "text": selected}},
			"action_ts":       "1700000100.000100"}
	}
	b, _ := json.Marshal(map[string]any{
		"type":      "block_actions",
		"user":      map[string]any{"id": user, "username": strings.ToLower(user)},
		"team":      map[string]any{"id": "T1"},
		"channel":   map[string]any{"id": "C_URGENT", "name": "urgent"},
		"container": map[string]any{"type": "message", "channel_id": "C_URGENT", "message_ts": "1700000000.000001"},
		"actions":   []any{action},
	})
	return string(b)
}

func (e *env) serve(b *Bot, req *http.Request) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	b.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

func TestHTTPSignature(t *testing.T) {
	e := newEnv(t)
	b := e.bot()
	now := time.Now()
	form := url.Values{"command": {"/sidedesk"}, "text": {"help"}, "user_id": {"U_ALICE"}, "channel_id": {"C1"}}
	cases := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"valid", func() *http.Request { return signedForm("/slack/commands", form, testSecret, now) }, http.StatusOK},
		{"wrong secret", func() *http.Request { return signedForm("/slack/commands", form, "forged-secret", now) }, http.StatusUnauthorized},
		{"stale timestamp", func() *http.Request {
			return signedForm("/slack/commands", form, testSecret, now.Add(-6*time.Minute))
		}, http.StatusUnauthorized},
		{"future timestamp", func() *http.Request {
			return signedForm("/slack/commands", form, testSecret, now.Add(6*time.Minute))
		}, http.StatusUnauthorized},
		{"body changed after signing", func() *http.Request {
			r := signedForm("/slack/commands", form, testSecret, now)
			r.Body = io.NopCloser(strings.NewReader(form.Encode() + "&text=find"))
			return r
		}, http.StatusUnauthorized},
		{"no headers", func() *http.Request {
			r := signedForm("/slack/commands", form, testSecret, now)
			r.Header.Del("X-Slack-Signature")
			return r
		}, http.StatusUnauthorized},
		{"garbage signature", func() *http.Request {
			r := signedForm("/slack/commands", form, testSecret, now)
			r.Header.Set("X-Slack-Signature", "v0=zz")
			return r
		}, http.StatusUnauthorized},
		{"forged interaction", func() *http.Request {
			return signedForm("/slack/interactions", url.Values{"payload": {blockActionPayload("U_ALICE", "sidedesk_resolve:1", "1", "")}}, "x", now)
		}, http.StatusUnauthorized},
		{"forged event", func() *http.Request {
			r := signedForm("/slack/events", url.Values{}, "x", now)
			return r
		}, http.StatusUnauthorized},
		{"GET not allowed", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/slack/commands", nil) }, http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if rec := e.serve(b, c.req()); rec.Code != c.want {
				t.Errorf("status %d, want %d (%s)", rec.Code, c.want, rec.Body)
			}
		})
	}
}

func TestHTTPEventsChallenge(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	req := httptest.NewRequest(http.MethodPost, "/slack/events", strings.NewReader(string(body)))
	sign(req, body, testSecret, time.Now())
	rec := e.serve(e.bot(), req)
	if rec.Code != http.StatusOK || rec.Body.String() != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("challenge answered %d %q", rec.Code, rec.Body)
	}
}

func TestButtons(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bot()
	e.run(b)
	res := e.ingest(e.mail("API outage", "502 everywhere"))
	e.settle()
	id := res.TicketID

	steps := []struct {
		name     string
		action   string
		selected string
		check    func(ticket.Ticket) bool
		blocks   string // in the updated alert
	}{
		{"acknowledge", actionID(verbAck, id), "", func(t ticket.Ticket) bool { return t.Status == ticket.StatusOpen }, "*Status*\nOpen"},
		{"assign to me", actionID(verbAssign, id), "", func(t ticket.Ticket) bool { return t.Assignee == "alice@acme.example" }, "*Assignee*\nalice@acme.example"},
		{"priority", actionID(verbPriority, id), "high", func(t ticket.Ticket) bool { return t.Priority == ticket.PriorityHigh }, "*Priority*\n:large_orange_circle: High"},
		{"resolve", actionID(verbResolve, id), "", func(t ticket.Ticket) bool { return t.Status == ticket.StatusSolved }, "*Status*\nSolved"},
	}
	for i, s := range steps {
		// Through the signed HTTP endpoint, as Slack would.
		form := url.Values{"payload": {blockActionPayload("U_ALICE", s.action, fmt.Sprint(id), s.selected)}}
		if rec := e.serve(b, signedForm("/slack/interactions", form, testSecret, time.Now())); rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d %s", s.name, rec.Code, rec.Body)
		}
		b.Wait() // acted on after the answer
		tk, err := e.st.Ticket(ctx, ticket.DefaultTenant, id)
		if err != nil || !s.check(tk) {
			t.Fatalf("%s: ticket %+v, %v", s.name, tk, err)
		}
		e.settle()
		_, updates, eph := e.slack.snapshot()
		if len(eph) != 0 {
			t.Errorf("%s: ephemeral replies %+v", s.name, eph)
		}
		if len(updates) != i+1 {
			t.Fatalf("%s: %d updates, want %d", s.name, len(updates), i+1)
		}
		if !hasText(blockTexts(updates[i].Blocks), s.blocks) {
			t.Errorf("%s: updated alert %q lacks %q", s.name, blockTexts(updates[i].Blocks), s.blocks)
		}
	}
	// The events name the agent as the actor.
	evs, err := e.st.PendingEvents(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, ev := range evs {
		var p ticket.EventPayload
		if ev.Type == ticket.EventTicketUpdated && json.Unmarshal(ev.Payload, &p) == nil {
			actors = append(actors, p.Actor)
		}
	}
	if strings.Join(actors, ",") != "alice@acme.example,alice@acme.example,alice@acme.example,alice@acme.example" {
		t.Errorf("actors %q", actors)
	}
}

func TestUnknownSlackUserChangesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bot()
	e.run(b)
	res := e.ingest(e.mail("outage", "x"))
	e.settle()
	before, _ := e.st.LastEventID(ctx)
	for _, user := range []string{"U_MALLORY", "U_NOBODY"} { // an outsider; a user Slack doesn't know
		cb := slack.InteractionCallback{}
		if err := json.Unmarshal([]byte(blockActionPayload(user, actionID(verbResolve, res.TicketID), "", "")), &cb); err != nil {
			t.Fatal(err)
		}
		if err := b.HandleInteraction(ctx, cb); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := e.st.LastEventID(ctx)
	tk, _ := e.st.Ticket(ctx, ticket.DefaultTenant, res.TicketID)
	if after != before || tk.Status != ticket.StatusNew {
		t.Errorf("an unknown user changed the ticket: status %s, events %d → %d", tk.Status, before, after)
	}
	_, _, eph := e.slack.snapshot()
	if len(eph) != 2 {
		t.Fatalf("ephemeral replies %+v, want 2", eph)
	}
	if eph[0].User != "U_MALLORY" || eph[0].Channel != "C_URGENT" || !strings.Contains(eph[0].Text, "mallory@elsewhere.example") ||
		!strings.Contains(eph[0].Text, "nothing was changed") {
		t.Errorf("explanation %+v", eph[0])
	}
	if !strings.Contains(eph[1].Text, "couldn't check who you are") {
		t.Errorf("users.info failure reply %+v", eph[1])
	}
}

func TestSlashCommand(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bot()
	r1 := e.ingest(e.mail("Printer outage", "the printer is on fire"))
	r2 := e.ingest(e.mail("Second question", "and another thing", func(in *ticket.Inbound) { in.Subject = "Billing <question>" }))
	e.ingest(e.mail("Other customer", "", func(in *ticket.Inbound) { in.From.Email = "zed@other.example" }))

	cases := []struct {
		user, command, text string
		want                []string // in the answer's text or blocks
	}{
		{"U_ALICE", "/sidedesk", fmt.Sprint(r1.TicketNumber), []string{
			fmt.Sprintf("|#%d Printer outage>*", r1.TicketNumber), "*Priority*\n:red_circle: Urgent", "> the printer is on fire"}},
		{"U_ALICE", "/sidedesk", fmt.Sprintf("#%d", r2.TicketNumber), []string{fmt.Sprintf("#%d Billing &lt;question&gt;", r2.TicketNumber)}},
		{"U_ALICE", "/sidedesk", "999", []string{"There is no ticket #999."}},
		{"U_ALICE", "/sidedesk", "find Carol@Customer.example", []string{
			"Recent tickets from carol@customer.example:",
			fmt.Sprintf("<https://desk.example/sidebar?ticket=%d|#%d Printer outage> — new, urgent", r1.TicketNumber, r1.TicketNumber),
			fmt.Sprintf("#%d Billing &lt;question&gt;> — new, normal", r2.TicketNumber)}},
		{"U_ALICE", "/sidedesk", "find <mailto:zed@other.example|zed@other.example>", []string{"Other customer"}},
		{"U_ALICE", "/sidedesk", "find nobody@nowhere.example", []string{"No tickets from nobody@nowhere.example."}},
		{"U_ALICE", "/sidedesk", "", []string{"Usage: `/sidedesk 123`"}},
		{"U_ALICE", "/sidedesk", "find notanemail", []string{"Usage:"}},
		{"U_ALICE", "/other", "1", []string{"sidedesk answers /sidedesk, not /other."}},
		{"U_MALLORY", "/sidedesk", fmt.Sprint(r1.TicketNumber), []string{"doesn't belong to a sidedesk agent"}},
	}
	for _, c := range cases {
		t.Run(c.user+" "+c.command+" "+c.text, func(t *testing.T) {
			msg := b.HandleCommand(ctx, slack.SlashCommand{Command: c.command, Text: c.text, UserID: c.user, ChannelID: "C1"})
			if msg.ResponseType != slack.ResponseTypeEphemeral {
				t.Errorf("response type %q", msg.ResponseType)
			}
			all := append([]string{msg.Text}, blockTexts(msg.Blocks)...)
			for _, w := range c.want {
				if !hasText(all, w) {
					t.Errorf("answer %q lacks %q", all, w)
				}
			}
			if c.user == "U_MALLORY" && hasText(all, "printer") {
				t.Errorf("an outsider saw the ticket: %q", all)
			}
		})
	}

	// Ten tickets of the longest subjects from one sender: the list stays
	// within Block Kit's 3,000 characters per section (Slack refuses the
	// whole answer otherwise) and says how many it left out.
	for i := range 10 {
		e.ingest(e.mail(fmt.Sprintf("long %d", i), "x", func(in *ticket.Inbound) {
			in.From.Email = "long@subjects.example"
			in.Subject = fmt.Sprintf("%d %s", i, strings.Repeat("<&> ", 200))
		}))
	}
	msg := b.HandleCommand(ctx, slack.SlashCommand{Command: "/sidedesk", Text: "find long@subjects.example", UserID: "U_ALICE", ChannelID: "C1"})
	for _, bt := range blockTexts(msg.Blocks) {
		if n := utf8.RuneCountInString(bt); n > maxSectionText {
			t.Errorf("a section of %d characters (limit %d)", n, maxSectionText)
		}
	}
	if !hasText(blockTexts(msg.Blocks), "more") || !hasText(blockTexts(msg.Blocks), "#") {
		t.Errorf("the long list does not say what it left out: %q", blockTexts(msg.Blocks))
	}

	// And over HTTP: the JSON body is the ephemeral answer.
	form := url.Values{"command": {"/sidedesk"}, "text": {fmt.Sprint(r1.TicketNumber)}, "user_id": {"U_ALICE"}, "channel_id": {"C1"}}
	rec := e.serve(b, signedForm("/slack/commands", form, testSecret, time.Now()))
	msg = &slack.Msg{}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), msg) != nil ||
		msg.ResponseType != "ephemeral" || !hasText(blockTexts(msg.Blocks), "Printer outage") {
		t.Errorf("HTTP answer %d %s", rec.Code, rec.Body)
	}
}

// TestInteractionAnsweredBeforeAction: the HTTP endpoint answers Slack
// at once, while the action still waits for a (slow) Slack API call; the
// action completes after.
func TestInteractionAnsweredBeforeAction(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bot()
	e.run(b)
	res := e.ingest(e.mail("API outage", "502 everywhere"))
	e.settle()
	gate := make(chan struct{})
	e.slack.mu.Lock()
	e.slack.userGate = gate
	e.slack.mu.Unlock()
	form := url.Values{"payload": {blockActionPayload("U_ALICE", actionID(verbResolve, res.TicketID), fmt.Sprint(res.TicketID), "")}}
	if rec := e.serve(b, signedForm("/slack/interactions", form, testSecret, time.Now())); rec.Code != http.StatusOK {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	// Answered while users.info is still held: nothing has changed yet.
	if tk, err := e.st.Ticket(ctx, ticket.DefaultTenant, res.TicketID); err != nil || tk.Status == ticket.StatusSolved {
		t.Fatalf("ticket %+v, %v: changed before the Slack API answered", tk, err)
	}
	close(gate)
	b.Wait()
	if tk, err := e.st.Ticket(ctx, ticket.DefaultTenant, res.TicketID); err != nil || tk.Status != ticket.StatusSolved {
		t.Fatalf("ticket %+v, %v: want solved after the action", tk, err)
	}
}

func TestHTTPReplayRefused(t *testing.T) {
	// A captured signed interaction, sent again within the five minutes
	// its signature is valid, must not act twice, in this process or
	// another one on the same database.
	ctx := context.Background()
	e := newEnv(t)
	b := e.bot()
	e.run(b)
	res := e.ingest(e.mail("API outage", "502 everywhere"))
	e.settle()
	at := time.Now()
	form := url.Values{"payload": {blockActionPayload("U_ALICE", actionID(verbAck, res.TicketID), fmt.Sprint(res.TicketID), "")}}
	if rec := e.serve(b, signedForm("/slack/interactions", form, testSecret, at)); rec.Code != http.StatusOK {
		t.Fatalf("first request: %d %s", rec.Code, rec.Body)
	}
	b.Wait()
	pending := ticket.StatusPending
	if _, err := e.svc.Update(ctx, ticket.DefaultTenant, res.TicketID, ticket.Change{Status: &pending, Actor: "agent"}); err != nil {
		t.Fatal(err)
	}
	for _, bot := range []*Bot{b, e.bot()} {
		if rec := e.serve(bot, signedForm("/slack/interactions", form, testSecret, at)); rec.Code != http.StatusConflict {
			t.Errorf("replay: status %d, want 409", rec.Code)
		}
		bot.Wait()
	}
	if tk, err := e.st.Ticket(ctx, ticket.DefaultTenant, res.TicketID); err != nil || tk.Status != ticket.StatusPending {
		t.Fatalf("after the replays the ticket is %+v, %v; want it still pending", tk.Status, err)
	}
	// A new request (new timestamp, new signature) is acted on.
	if rec := e.serve(b, signedForm("/slack/interactions", form, testSecret, at.Add(time.Second))); rec.Code != http.StatusOK {
		t.Fatalf("fresh request: %d", rec.Code)
	}
	b.Wait()
	if tk, _ := e.st.Ticket(ctx, ticket.DefaultTenant, res.TicketID); tk.Status != ticket.StatusOpen {
		t.Errorf("fresh ack: status %s, want open", tk.Status)
	}
}
