package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sidedesk/sidedesk/ticket"
)

// socketPeer is the Slack end of a Socket Mode connection
// (https://api.slack.com/apis/connections/socket-implement): it says hello,
// sends the envelopes the test queues, and hands back the acks.
type socketPeer struct {
	send chan string
	acks chan map[string]json.RawMessage
}

func newSocketPeer() *socketPeer {
	return &socketPeer{send: make(chan string, 8), acks: make(chan map[string]json.RawMessage, 8)}
}

// appsConnectionsOpen answers apps.connections.open with the fake's own
// Socket Mode URL (slacktest's default hands out its RTM socket).
func (f *fakeSlack) appsConnectionsOpen(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer xapp-test" {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	writeJSON(w, map[string]any{"ok": true, "url": "ws://" + f.srv.ServerAddr + "/socket-mode"})
}

func (f *fakeSlack) socketModeConn(w http.ResponseWriter, r *http.Request) {
	p := f.peer
	conn, err := (&websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1}); err != nil {
		return
	}
	go func() {
		for {
			var ack map[string]json.RawMessage
			if err := conn.ReadJSON(&ack); err != nil {
				return
			}
			p.acks <- ack
		}
	}()
	for {
		select {
		case <-r.Context().Done():
			return
		case s := <-p.send:
			if err := conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
				return
			}
		}
	}
}

func (p *socketPeer) ack(t *testing.T, envelope string) map[string]json.RawMessage {
	t.Helper()
	select {
	case a := <-p.acks:
		var id string
		_ = json.Unmarshal(a["envelope_id"], &id)
		if id != envelope {
			t.Fatalf("ack for %q, want %q", id, envelope)
		}
		return a
	case <-time.After(20 * time.Second):
		t.Fatalf("no ack for %s", envelope)
	}
	return nil
}

func TestSocketMode(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	peer := e.slack.peer
	e.opts.Mode = ModeSocket
	b := e.bot()
	res := e.ingest(e.mail("Mail outage", "no mail since noon"))

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.RunSocketMode(rctx) }()

	// A button click.
	peer.send <- fmt.Sprintf(`{"envelope_id":"env-1","type":"interactive","accepts_response_payload":false,"payload":%s}`,
		blockActionPayload("U_ALICE", actionID(verbAssign, res.TicketID), fmt.Sprint(res.TicketID), ""))
	peer.ack(t, "env-1")
	deadline := time.Now().Add(20 * time.Second)
	for {
		tk, err := e.st.Ticket(ctx, ticket.DefaultTenant, res.TicketID)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Assignee == "alice@acme.example" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticket not assigned: %+v", tk)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A slash command: the ack carries the ephemeral answer.
	peer.send <- fmt.Sprintf(`{"envelope_id":"env-2","type":"slash_commands","accepts_response_payload":true,
		"payload":{"command":"/sidedesk","text":"%d","user_id":"U_ALICE","channel_id":"C1","team_id":"T1"}}`, res.TicketNumber)
	a := peer.ack(t, "env-2")
	if s := string(a["payload"]); !strings.Contains(s, `"response_type":"ephemeral"`) || !strings.Contains(s, "Mail outage") ||
		!strings.Contains(s, "alice@acme.example") {
		t.Errorf("command ack payload %s", s)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunSocketMode: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RunSocketMode did not stop")
	}
}
