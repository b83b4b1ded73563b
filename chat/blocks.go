package chat

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/sidedesk/sidedesk/ticket"
)

// Button and select verbs. An element's action_id is "sidedesk_<verb>:<ticket id>".
const (
	verbAck      = "ack"
	verbAssign   = "assign"
	verbResolve  = "resolve"
	verbPriority = "priority"
)

const actionPrefix = "sidedesk_"

// excerptRunes is how much of the first message an alert quotes.
const excerptRunes = 300

func actionID(verb string, ticketID int64) string {
	return actionPrefix + verb + ":" + strconv.FormatInt(ticketID, 10)
}

// parseActionID reads an action_id actionID wrote.
func parseActionID(s string) (verb string, ticketID int64, ok bool) {
	rest, found := strings.CutPrefix(s, actionPrefix)
	if !found {
		return "", 0, false
	}
	verb, num, found := strings.Cut(rest, ":")
	if !found {
		return "", 0, false
	}
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id <= 0 {
		return "", 0, false
	}
	switch verb {
	case verbAck, verbAssign, verbResolve, verbPriority:
		return verb, id, true
	}
	return "", 0, false
}

// ticketView is what an alert or the slash command shows of a ticket.
type ticketView struct {
	T       ticket.Ticket
	Account string
	Excerpt string // of the first customer message
}

// escape makes s safe inside Slack mrkdwn: only &, < and > are special
// (https://api.slack.com/reference/surfaces/formatting#escaping).
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Block Kit's limits, in characters
// (https://api.slack.com/reference/block-kit/blocks#section): a text that
// exceeds one makes Slack refuse the whole message (invalid_blocks), and
// the alert would be lost for good.
const (
	maxSectionText = 3000
	maxFieldText   = 2000
	// maxSubject and maxName keep an alert readable well inside them.
	maxSubject = 250
	maxName    = 200
)

// escapeMax is escape(s) cut to at most n characters (runes), never
// inside an entity, ending in "…" when cut.
func escapeMax(s string, n int) string {
	if e := escape(s); utf8.RuneCountInString(e) <= n {
		return e
	}
	var b strings.Builder
	used := 0
	for _, r := range s {
		piece := escape(string(r))
		w := utf8.RuneCountInString(piece)
		if used+w > n-1 {
			break
		}
		b.WriteString(piece)
		used += w
	}
	return b.String() + "…"
}

// mailtoLink is a Slack link to email: the address is escaped in both the
// URL and the label, and "|" (which would end the URL) is percent-encoded,
// so a quoted local part cannot break out of the link.
func mailtoLink(email string) string {
	u := escape(strings.ReplaceAll(email, "|", "%7C"))
	return "<mailto:" + u + "|" + escape(email) + ">"
}

// excerpt is the first n runes of text with whitespace runs collapsed.
func excerpt(text string, n int) string {
	s := strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if n == 0 {
			cut = i
			break
		}
		n--
	}
	return strings.TrimSpace(s[:cut]) + "…"
}

func (b *Bot) ticketURL(t ticket.Ticket) string {
	return b.opts.PublicURL + "/sidebar?ticket=" + url.QueryEscape(strconv.FormatInt(t.Number, 10))
}

func priorityLabel(p ticket.Priority) string {
	emoji := map[ticket.Priority]string{
		ticket.PriorityUrgent: ":red_circle:",
		ticket.PriorityHigh:   ":large_orange_circle:",
		ticket.PriorityNormal: ":white_circle:",
		ticket.PriorityLow:    ":large_blue_circle:",
	}[p]
	return strings.TrimSpace(emoji + " " + titleCase(string(p)))
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func requesterText(a ticket.Address) string {
	switch {
	case len(a.Email) > maxName:
		// No real address is that long (RFC 5321 §4.5.3.1: 254); show it
		// as text rather than build a link over the field's limit.
		return escapeMax(a.Name, maxName) + " " + escapeMax(a.Email, maxName)
	case a.Email == "":
		return escapeMax(a.Name, maxName)
	case a.Name == "":
		return mailtoLink(a.Email)
	}
	return escapeMax(a.Name, maxName) + " " + mailtoLink(a.Email)
}

// fallbackText is the plain text of a ticket message: notifications and
// clients without blocks show it.
func fallbackText(v ticketView) string {
	t := v.T
	from := t.Requester.Name
	if from == "" {
		from = t.Requester.Email
	}
	// Notifications show this text as mrkdwn too: escaped like the blocks.
	return fmt.Sprintf("[#%d] %s (%s) from %s", t.Number, escapeMax(t.Subject, maxSubject), t.Priority,
		escapeMax(from, maxName))
}

// summaryBlocks show a ticket: linked title, facts, excerpt.
func (b *Bot) summaryBlocks(v ticketView) []slack.Block {
	t := v.T
	subject := t.Subject
	if subject == "" {
		subject = "(no subject)"
	}
	title := fmt.Sprintf("*<%s|#%d %s>*", b.ticketURL(t), t.Number, escapeMax(subject, maxSubject))
	if utf8.RuneCountInString(title) > maxSectionText {
		// Only a public_url of thousands of characters gets here.
		title = escapeMax(fmt.Sprintf("#%d %s", t.Number, subject), maxSubject)
	}
	assignee := "_unassigned_"
	if t.Assignee != "" {
		assignee = escapeMax(t.Assignee, maxName)
	}
	account := v.Account
	if account == "" {
		account = "—"
	}
	md := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	fields := []*slack.TextBlockObject{
		md("*Requester*\n" + requesterText(t.Requester)),
		md("*Account*\n" + escapeMax(account, maxName)),
		md("*Priority*\n" + priorityLabel(t.Priority)),
		md("*Status*\n" + titleCase(string(t.Status))),
		md("*Assignee*\n" + assignee),
		md("*Mailbox*\n" + escapeMax(t.Mailbox, maxName)),
	}
	blocks := []slack.Block{
		slack.NewSectionBlock(md(title), nil, nil, slack.SectionBlockOptionBlockID("sidedesk_title")),
		slack.NewSectionBlock(nil, fields, nil, slack.SectionBlockOptionBlockID("sidedesk_facts")),
	}
	if v.Excerpt != "" {
		blocks = append(blocks, slack.NewSectionBlock(md("> "+escape(v.Excerpt)), nil, nil,
			slack.SectionBlockOptionBlockID("sidedesk_excerpt")))
	}
	return blocks
}

// alertBlocks is an alert: the summary plus the buttons and priority select.
func (b *Bot) alertBlocks(v ticketView) []slack.Block {
	t := v.T
	plain := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}
	id := strconv.FormatInt(t.ID, 10)
	var opts []*slack.OptionBlockObject
	var initial *slack.OptionBlockObject
	for _, p := range []ticket.Priority{ticket.PriorityUrgent, ticket.PriorityHigh, ticket.PriorityNormal, ticket.PriorityLow} {
		o := slack.NewOptionBlockObject(string(p), plain(titleCase(string(p))), nil)
		opts = append(opts, o)
		if p == t.Priority {
			initial = o
		}
	}
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Priority"), actionID(verbPriority, t.ID), opts...)
	sel.InitialOption = initial
	actions := slack.NewActionBlock("sidedesk_actions:"+id,
		slack.NewButtonBlockElement(actionID(verbAck, t.ID), id, plain("Acknowledge")),
		slack.NewButtonBlockElement(actionID(verbAssign, t.ID), id, plain("Assign to me")).WithStyle(slack.StylePrimary),
		slack.NewButtonBlockElement(actionID(verbResolve, t.ID), id, plain("Resolve")),
		sel,
	)
	return append(b.summaryBlocks(v), actions)
}

// replyText is the thread reply for a new customer message.
// failedText is the thread's note about a reply that could not be
// delivered, with the mail server's answer.
func failedText(m ticket.Message, reason string) string {
	to := make([]string, 0, len(m.To))
	for _, a := range m.To {
		to = append(to, a.Email)
	}
	if reason == "" {
		reason = "the mail server refused it"
	}
	return fmt.Sprintf(":warning: The reply to %s could not be delivered: %s",
		escapeMax(strings.Join(to, ", "), maxName), escape(excerpt(reason, excerptRunes)))
}

func replyText(m ticket.Message) string {
	from := m.From.Name
	if from == "" {
		from = m.From.Email
	}
	text := excerpt(m.Text, excerptRunes)
	if text == "" {
		text = "(no text)"
	}
	what := "New message"
	if m.Direction == ticket.DirectionOutgoing {
		what = "Reply" // an agent's, from their own mail client
	}
	return fmt.Sprintf("%s from %s:\n> %s", what, escapeMax(from, maxName), escape(text))
}
