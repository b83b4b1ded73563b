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
	case a.Email == "":
		return escape(a.Name)
	case a.Name == "":
		return "<mailto:" + a.Email + "|" + escape(a.Email) + ">"
	}
	return escape(a.Name) + " <mailto:" + a.Email + "|" + escape(a.Email) + ">"
}

// fallbackText is the plain text of a ticket message: notifications and
// clients without blocks show it.
func fallbackText(v ticketView) string {
	t := v.T
	from := t.Requester.Name
	if from == "" {
		from = t.Requester.Email
	}
	return fmt.Sprintf("[#%d] %s (%s) from %s", t.Number, t.Subject, t.Priority, from)
}

// summaryBlocks show a ticket: linked title, facts, excerpt.
func (b *Bot) summaryBlocks(v ticketView) []slack.Block {
	t := v.T
	subject := t.Subject
	if subject == "" {
		subject = "(no subject)"
	}
	title := fmt.Sprintf("*<%s|#%d %s>*", b.ticketURL(t), t.Number, escape(subject))
	assignee := "_unassigned_"
	if t.Assignee != "" {
		assignee = escape(t.Assignee)
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
		md("*Account*\n" + escape(account)),
		md("*Priority*\n" + priorityLabel(t.Priority)),
		md("*Status*\n" + titleCase(string(t.Status))),
		md("*Assignee*\n" + assignee),
		md("*Mailbox*\n" + escape(t.Mailbox)),
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
func replyText(m ticket.Message) string {
	from := m.From.Name
	if from == "" {
		from = m.From.Email
	}
	text := excerpt(m.Text, excerptRunes)
	if text == "" {
		text = "(no text)"
	}
	return fmt.Sprintf("New message from %s:\n> %s", escape(from), escape(text))
}
