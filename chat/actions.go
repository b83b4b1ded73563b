package chat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/sidedesk/sidedesk/ticket"
)

// agentTTL is how long a Slack user → agent answer is reused (users.info is
// rate limited; an agent added meanwhile waits at most this long).
const agentTTL = 5 * time.Minute

type agentEntry struct {
	user  ticket.User
	email string // the Slack profile's email, for the explanation
	found bool
	at    time.Time
}

// errUnknownAgent: the Slack user maps to no sidedesk agent.
var errUnknownAgent = errors.New("chat: unknown agent")

// agent maps a Slack user to a sidedesk agent by email (users.info, which
// needs the users:read.email scope) and UserByEmail.
func (b *Bot) agent(ctx context.Context, slackUser string) (ticket.User, string, error) {
	b.mu.Lock()
	e, ok := b.agents[slackUser]
	b.mu.Unlock()
	if ok && b.now().Sub(e.at) < agentTTL {
		if !e.found {
			return ticket.User{}, e.email, errUnknownAgent
		}
		return e.user, e.email, nil
	}
	u, err := b.api.GetUserInfoContext(ctx, slackUser)
	if err != nil {
		return ticket.User{}, "", fmt.Errorf("chat: users.info %s: %w", slackUser, err)
	}
	e = agentEntry{email: ticket.NormEmail(u.Profile.Email), at: b.now()}
	if e.email != "" && !u.IsBot && !u.Deleted {
		e.user, err = b.opts.Store.UserByEmail(ctx, b.opts.Tenant, e.email)
		switch {
		case err == nil:
			e.found = true
		case !errors.Is(err, ticket.ErrNotFound):
			return ticket.User{}, e.email, err
		}
	}
	b.mu.Lock()
	b.agents[slackUser] = e
	b.mu.Unlock()
	if !e.found {
		return ticket.User{}, e.email, errUnknownAgent
	}
	return e.user, e.email, nil
}

func unknownAgentText(email string) string {
	if email == "" {
		return "sidedesk can't see an email address on your Slack profile, so it can't tell which agent you are. Nothing was changed."
	}
	return fmt.Sprintf("Your Slack email (%s) doesn't belong to a sidedesk agent, so nothing was changed. Ask an admin to add you (sidedesk user add).", escape(email))
}

// HandleInteraction acts on a button or select of an alert (both Socket
// Mode and the HTTP endpoint call it). The alert itself is updated by the
// dispatcher from the ticket.updated event the change writes; errors and
// refusals go to the user as ephemeral messages. It returns an error only
// for a payload it cannot use.
func (b *Bot) HandleInteraction(ctx context.Context, cb slack.InteractionCallback) error {
	if cb.Type != slack.InteractionTypeBlockActions {
		return nil
	}
	for _, a := range cb.ActionCallback.BlockActions {
		verb, id, ok := parseActionID(a.ActionID)
		if !ok {
			continue // not ours
		}
		b.act(ctx, cb, verb, id, a)
	}
	return nil
}

func (b *Bot) act(ctx context.Context, cb slack.InteractionCallback, verb string, id int64, a *slack.BlockAction) {
	reply := func(text string) {
		if cb.Channel.ID == "" {
			return
		}
		if _, err := b.api.PostEphemeralContext(ctx, cb.Channel.ID, cb.User.ID, slack.MsgOptionText(text, false)); err != nil {
			b.log.WarnContext(ctx, "chat: ephemeral reply", "user", cb.User.ID, "error", err)
		}
	}
	agent, email, err := b.agent(ctx, cb.User.ID)
	if errors.Is(err, errUnknownAgent) {
		b.log.InfoContext(ctx, "chat: action by a Slack user who is no agent", "user", cb.User.ID, "action", verb, "ticket", id)
		reply(unknownAgentText(email))
		return
	}
	if err != nil {
		b.log.WarnContext(ctx, "chat: map Slack user to agent", "user", cb.User.ID, "error", err)
		reply("sidedesk couldn't check who you are just now; nothing was changed. Please try again.")
		return
	}
	ch := ticket.Change{Actor: agent.Email}
	switch verb {
	case verbAck:
		s := ticket.StatusOpen
		ch.Status = &s
	case verbAssign:
		ch.Assignee = &agent.Email
	case verbResolve:
		s := ticket.StatusSolved
		ch.Status = &s
	case verbPriority:
		p := ticket.Priority(a.SelectedOption.Value)
		ch.Priority = &p
	}
	t, err := b.opts.Tickets.Update(ctx, b.opts.Tenant, id, ch)
	switch {
	case errors.Is(err, ticket.ErrNotFound):
		reply("That ticket no longer exists.")
		return
	case errors.Is(err, ticket.ErrInvalid):
		reply("sidedesk refused that change: " + escapeMax(err.Error(), 1000))
		return
	case err != nil:
		b.log.ErrorContext(ctx, "chat: update ticket from Slack", "ticket", id, "action", verb, "error", err)
		reply("sidedesk couldn't save that change; please try again.")
		return
	}
	b.log.InfoContext(ctx, "chat: ticket changed from Slack", "ticket", t.ID, "number", t.Number, "action", verb, "agent", agent.Email)
}

// HandleCommand answers the slash command (both Socket Mode and the HTTP
// endpoint call it) with an ephemeral message:
//
//	/sidedesk 123                        the ticket
//	/sidedesk find someone@example.com   their recent tickets
func (b *Bot) HandleCommand(ctx context.Context, cmd slack.SlashCommand) *slack.Msg {
	ephemeral := func(text string, blocks ...slack.Block) *slack.Msg {
		m := &slack.Msg{ResponseType: slack.ResponseTypeEphemeral, Text: text}
		if len(blocks) > 0 {
			m.Blocks = slack.Blocks{BlockSet: blocks}
		}
		return m
	}
	if cmd.Command != b.opts.Command {
		return ephemeral(fmt.Sprintf("sidedesk answers %s, not %s.", b.opts.Command, escapeMax(cmd.Command, maxName)))
	}
	if _, email, err := b.agent(ctx, cmd.UserID); errors.Is(err, errUnknownAgent) {
		return ephemeral(strings.Replace(unknownAgentText(email), ", so nothing was changed", "", 1))
	} else if err != nil {
		b.log.WarnContext(ctx, "chat: map Slack user to agent", "user", cmd.UserID, "error", err)
		return ephemeral("sidedesk couldn't check who you are just now. Please try again.")
	}
	usage := fmt.Sprintf("Usage: `%s 123` shows ticket #123; `%s find someone@example.com` lists their recent tickets.",
		b.opts.Command, b.opts.Command)
	args := strings.Fields(cmd.Text)
	switch {
	case len(args) == 1:
		n, err := strconv.ParseInt(strings.TrimPrefix(args[0], "#"), 10, 64)
		if err != nil || n <= 0 {
			return ephemeral(usage)
		}
		t, err := b.opts.Store.TicketByNumber(ctx, b.opts.Tenant, n)
		if errors.Is(err, ticket.ErrNotFound) {
			return ephemeral(fmt.Sprintf("There is no ticket #%d.", n))
		}
		if err != nil {
			b.log.ErrorContext(ctx, "chat: slash command ticket", "number", n, "error", err)
			return ephemeral("sidedesk couldn't load that ticket just now.")
		}
		first, err := b.firstMessage(ctx, t)
		if err != nil {
			b.log.WarnContext(ctx, "chat: slash command first message", "ticket", t.ID, "error", err)
		}
		v := ticketView{T: t, Account: b.account(ctx, t), Excerpt: excerpt(first.Text, excerptRunes)}
		return ephemeral(fallbackText(v), b.summaryBlocks(v)...)
	case len(args) == 2 && strings.EqualFold(args[0], "find"):
		email := ticket.NormEmail(strings.Trim(args[1], "<>"))
		email = strings.TrimPrefix(email, "mailto:")
		if i := strings.IndexByte(email, '|'); i >= 0 { // Slack's <mailto:a@b|a@b>
			email = email[:i]
		}
		if !strings.Contains(email, "@") {
			return ephemeral(usage)
		}
		ts, _, err := b.opts.Store.ListTickets(ctx, b.opts.Tenant, ticket.TicketFilter{Requester: email, Limit: 10})
		if err != nil {
			b.log.ErrorContext(ctx, "chat: slash command find", "error", err)
			return ephemeral("sidedesk couldn't search just now.")
		}
		if len(ts) == 0 {
			return ephemeral(fmt.Sprintf("No tickets from %s.", escapeMax(email, maxName)))
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "Recent tickets from %s:", escapeMax(email, maxName))
		for i, t := range ts {
			line := fmt.Sprintf("\n• <%s|#%d %s> — %s, %s, updated %s", b.ticketURL(t), t.Number, escapeMax(t.Subject, maxSubject),
				t.Status, t.Priority, t.UpdatedAt.UTC().Format("2006-01-02 15:04 UTC"))
			more := fmt.Sprintf("\n… and %d more", len(ts)-i)
			// The section's text must stay within Block Kit's 3,000
			// characters, or Slack refuses the answer (invalid_blocks).
			if utf8.RuneCountInString(sb.String())+utf8.RuneCountInString(line)+len(more) > maxSectionText {
				sb.WriteString(more)
				break
			}
			sb.WriteString(line)
		}
		md := slack.NewTextBlockObject(slack.MarkdownType, sb.String(), false, false)
		return ephemeral(sb.String(), slack.NewSectionBlock(md, nil, nil))
	}
	return ephemeral(usage)
}
