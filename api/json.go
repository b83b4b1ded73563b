package api

import (
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// The JSON shapes of the API (docs/api.md). Field names are snake_case,
// times RFC 3339 in UTC, lists are [] rather than null.

type addressJSON struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type ticketJSON struct {
	ID             int64          `json:"id"`
	Number         int64          `json:"number"`
	Subject        string         `json:"subject"`
	Status         string         `json:"status"`
	Priority       string         `json:"priority"`
	Requester      addressJSON    `json:"requester"`
	Mailbox        string         `json:"mailbox"`
	Assignee       string         `json:"assignee"`
	Tags           []string       `json:"tags"`
	CustomFields   map[string]any `json:"custom_fields"`
	LinkedTicketID int64          `json:"linked_ticket_id,omitempty"`
	// MergedInto is the id of the ticket this one was merged into.
	MergedInto int64   `json:"merged_into,omitempty"`
	CreatedAt  string  `json:"created_at"`
	UpdatedAt  string  `json:"updated_at"`
	ClosedAt   *string `json:"closed_at"` // null unless solved or closed
	URL        string  `json:"url"`
}

type ticketWithMessagesJSON struct {
	ticketJSON
	Messages []messageJSON `json:"messages"`
}

// deliveryJSON is an outgoing message's sending state.
type deliveryJSON struct {
	State      string   `json:"state"` // queued | sent | failed
	Kind       string   `json:"kind"`  // reply | ack
	Mailbox    string   `json:"mailbox"`
	Recipients []string `json:"recipients"`
	Attempts   int      `json:"attempts"`
	Error      string   `json:"error,omitempty"` // the server's answer when it failed (or the last try's)
	QueuedAt   string   `json:"queued_at"`
	SentAt     *string  `json:"sent_at"` // null until sent
}

type attachmentJSON struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Inline      bool   `json:"inline"`
	ContentID   string `json:"content_id"`
	URL         string `json:"url"`
}

type messageJSON struct {
	ID             int64            `json:"id"`
	TicketID       *int64           `json:"ticket_id"` // null while held
	MessageID      string           `json:"message_id"`
	InReplyTo      string           `json:"in_reply_to"`
	References     []string         `json:"references"`
	Direction      string           `json:"direction"`
	Classification string           `json:"classification"`
	From           addressJSON      `json:"from"`
	To             []addressJSON    `json:"to"`
	Cc             []addressJSON    `json:"cc"`
	ReplyTo        []addressJSON    `json:"reply_to"`
	Subject        string           `json:"subject"`
	Date           *string          `json:"date"` // null when the mail had no parsable Date
	Text           string           `json:"text"`
	HTML           string           `json:"html"` // sanitised at capture
	Attachments    []attachmentJSON `json:"attachments"`
	ParseError     string           `json:"parse_error,omitempty"`
	ParseFlags     []string         `json:"parse_flags"`
	Held           bool             `json:"held"`
	RawSize        int64            `json:"raw_size"`
	RawURL         string           `json:"raw_url"`
	CreatedAt      string           `json:"created_at"`
	// Delivery is the sending state of an outgoing message; absent on
	// others (and on outgoing mail written in an agent's own client).
	Delivery *deliveryJSON `json:"delivery,omitempty"`
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func fmtOptTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := fmtTime(t)
	return &s
}

func addrJSON(a ticket.Address) addressJSON { return addressJSON{Name: a.Name, Email: a.Email} }

func addrsJSON(as []ticket.Address) []addressJSON {
	out := make([]addressJSON, 0, len(as))
	for _, a := range as {
		out = append(out, addrJSON(a))
	}
	return out
}

func (s *Server) ticketJSON(t ticket.Ticket) ticketJSON {
	return ticketJSON{
		ID:             t.ID,
		Number:         t.Number,
		Subject:        t.Subject,
		Status:         string(t.Status),
		Priority:       string(t.Priority),
		Requester:      addrJSON(t.Requester),
		Mailbox:        t.Mailbox,
		Assignee:       t.Assignee,
		Tags:           append([]string{}, t.Tags...),
		CustomFields:   customFields(t.CustomFields),
		LinkedTicketID: t.LinkedTicketID,
		MergedInto:     t.MergedInto,
		CreatedAt:      fmtTime(t.CreatedAt),
		UpdatedAt:      fmtTime(t.UpdatedAt),
		ClosedAt:       fmtOptTime(t.ClosedAt),
		URL:            s.link("/api/v1/tickets/%d", t.ID),
	}
}

// customFields is {} rather than null for a ticket without any.
func customFields(f map[string]any) map[string]any {
	if f == nil {
		return map[string]any{}
	}
	return f
}

func (s *Server) messageJSON(m ticket.Message) messageJSON {
	out := messageJSON{
		ID:             m.ID,
		MessageID:      m.MessageID,
		InReplyTo:      m.InReplyTo,
		References:     append([]string{}, m.References...),
		Direction:      string(m.Direction),
		Classification: string(m.Classification),
		From:           addrJSON(m.From),
		To:             addrsJSON(m.To),
		Cc:             addrsJSON(m.Cc),
		ReplyTo:        addrsJSON(m.ReplyTo),
		Subject:        m.Subject,
		Date:           fmtOptTime(m.Date),
		Text:           m.Text,
		HTML:           m.HTML,
		Attachments:    make([]attachmentJSON, 0, len(m.Attachments)),
		ParseError:     m.ParseError,
		ParseFlags:     nonNil(m.ParseFlags),
		Held:           m.Held,
		RawSize:        m.Raw.Size,
		RawURL:         s.link("/api/v1/messages/%d/raw", m.ID),
		CreatedAt:      fmtTime(m.CreatedAt),
	}
	if m.TicketID != 0 {
		id := m.TicketID
		out.TicketID = &id
	}
	if d := m.Delivery; d != nil {
		out.Delivery = &deliveryJSON{State: string(d.State), Kind: string(d.Kind), Mailbox: d.Mailbox,
			Recipients: append([]string{}, d.Recipients...), Attempts: d.Attempts, Error: d.LastError,
			QueuedAt: fmtTime(d.QueuedAt), SentAt: fmtOptTime(d.SentAt)}
	}
	for _, a := range m.Attachments {
		out.Attachments = append(out.Attachments, attachmentJSON{
			ID: a.ID, Filename: a.Filename, ContentType: a.ContentType, Size: a.Size,
			SHA256: a.SHA256, Inline: a.Inline, ContentID: a.ContentID,
			URL: s.link("/api/v1/attachments/%d", a.ID),
		})
	}
	return out
}
