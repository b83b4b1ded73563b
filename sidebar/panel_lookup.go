package sidebar

import (
	"context"
	"fmt"
	"net/url"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/ticket"
)

// Facts is what the panel knows of an email: the captured message and its
// ticket, the customer's recent messages and other tickets, the CRM match
// and the records the mail was saved to. GET /api/v1/lookup answers it
// (package api renders it).
type Facts struct {
	Email    string
	Message  *ticket.Message // nil when the email was not captured
	Ticket   *ticket.Ticket  // nil when it is on no ticket
	Recent   []ticket.Message
	Others   []ticket.Ticket
	Match    crm.Match
	Links    []crm.Link
	CRMError error // the CRM failed: the rest is still there
}

// Lookup answers GET /api/v1/lookup: the facts the panel shows for the
// query's email, message_id or ticket. Bad input is an error wrapping
// ticket.ErrInvalid.
func (s *Server) Lookup(ctx context.Context, tenant string, q url.Values) (Facts, error) {
	pc, err := panelContext(func(k string) string {
		if k == "from" {
			return q.Get("email")
		}
		return q.Get(k)
	})
	if err != nil {
		return Facts{}, err
	}
	if pc.From == "" && pc.MessageID == "" && pc.Ticket == 0 {
		return Facts{}, fmt.Errorf("%w request: give email, message_id or ticket", ticket.ErrInvalid)
	}
	return s.gather(ctx, tenant, pc)
}
