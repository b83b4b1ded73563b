package views

import (
	"encoding/json"
	"fmt"

	"github.com/sidedesk/sidedesk/ticket"
)

// htmxConfig keeps htmx within the CSP: no injected indicator <style>, no
// eval (hx-on, trigger filters), no <script> execution in swapped content,
// requests only to our own origin, and no page snapshots in localStorage
// (they would keep customer data in the browser).
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"historyCacheSize":0,"refreshOnHistoryMiss":true}`

// csrfHeader is the hx-headers value carrying the CSRF token.
func csrfHeader(token string) string {
	if token == "" {
		return ""
	}
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}

// DeliveryLabel says where an outgoing message is: "sending", "sent" or
// "failed: <the server's answer>", and "acknowledgement" for one.
func DeliveryLabel(d ticket.Delivery) string {
	label := ""
	switch d.State {
	case ticket.DeliveryQueued:
		label = "sending"
		if d.Attempts > 0 {
			label = fmt.Sprintf("sending (try %d)", d.Attempts+1)
		}
	case ticket.DeliverySent:
		label = "sent"
	case ticket.DeliveryFailed:
		label = "failed: " + Snippet(d.LastError, 120)
	}
	if d.Kind == ticket.OutgoingAck {
		label = "acknowledgement " + label
	}
	return label
}
