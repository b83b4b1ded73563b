package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/sidedesk/sidedesk/ticket"
)

const (
	// firstBackoff is the first wait before a socket mode reconnect.
	firstBackoff = 500 * time.Millisecond
	// findPages bounds the history pages read when looking for a post whose
	// answer was lost; the post is recent, so it is on the first page.
	findPages = 5
)

// Slack message metadata event types (https://api.slack.com/reference/metadata)
// that mark sidedesk's posts, so a post whose answer was lost can be found.
const (
	metaAlert = "sidedesk_alert"
	metaReply = "sidedesk_reply"
)

// Delivery is how the Slack delivery runs as an outbox consumer: its name
// ("slack:<tenant>", the cursor's name, so an upgrade goes on where the old
// dispatcher stopped), its tenant, and its poll interval and longest
// backoff. Run Deliver on an outbox runner with them.
func (b *Bot) Delivery() (name, tenant string, poll, maxBackoff time.Duration) {
	return "slack:" + b.opts.Tenant, b.opts.Tenant, b.opts.PollInterval, b.opts.MaxBackoff
}

// Deliver does what one outbox event asks of Slack (an alert, its update,
// a thread reply). Safe to call again for an event already delivered:
// every post is recorded, and updates repeat harmlessly. Slack's refusals
// that retrying cannot change come back with Permanent() true, rate limits
// with RetryAfter() (the outbox runner reads both).
func (b *Bot) Deliver(ctx context.Context, e ticket.Event) error {
	err := b.deliver(ctx, e)
	if err == nil || ctx.Err() != nil {
		return err
	}
	return classify(err)
}

// classify marks err for the outbox runner: Permanent when every part of
// it is (one alert to several channels can fail in several ways), with the
// longest Retry-After of any 429 in it.
func classify(err error) error {
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	allPermanent := true
	var wait time.Duration
	for _, p := range parts {
		var rl *slack.RateLimitedError
		if errors.As(p, &rl) {
			wait = max(wait, rl.RetryAfter, time.Second)
		}
		if !permanent(p) {
			allPermanent = false
		}
	}
	switch {
	case allPermanent:
		return &deliveryError{err: err, permanent: true}
	case wait > 0:
		return &deliveryError{err: err, retryAfter: wait}
	}
	return err
}

// deliveryError tells the outbox runner how to go on after a failed
// delivery: give up (permanent) or wait retryAfter.
type deliveryError struct {
	err        error
	permanent  bool
	retryAfter time.Duration
}

func (e *deliveryError) Error() string {
	if e.retryAfter > 0 {
		return fmt.Sprintf("%v (retry after %v)", e.err, e.retryAfter)
	}
	return e.err.Error()
}
func (e *deliveryError) Unwrap() error             { return e.err }
func (e *deliveryError) Permanent() bool           { return e.permanent }
func (e *deliveryError) RetryAfter() time.Duration { return e.retryAfter }

// deliver does what one event asks of Slack. It returns nil when done (or
// nothing to do), ctx's error when stopped, or a permanent error.
func (b *Bot) deliver(ctx context.Context, e ticket.Event) error {
	b.log.DebugContext(ctx, "chat: deliver", "event", e.ID, "type", e.Type, "ticket", e.TicketID)
	var err error
	switch e.Type {
	case ticket.EventTicketCreated, ticket.EventTicketUpdated:
		err = b.onTicket(ctx, e)
	case ticket.EventMessageReceived, ticket.EventMessageFailed:
		err = b.onMessage(ctx, e)
	}
	if errors.Is(err, ticket.ErrNotFound) {
		return nil // deleted meanwhile (or another tenant's): nothing to show
	}
	return err
}

// onTicket posts the ticket's alert to every matching channel that has
// none, and updates the alerts already posted.
func (b *Bot) onTicket(ctx context.Context, e ticket.Event) error {
	var (
		t      ticket.Ticket
		alerts []ticket.SlackMessage
		first  ticket.Message
	)
	var err error
	if t, err = b.opts.Store.Ticket(ctx, b.opts.Tenant, e.TicketID); err != nil {
		return err
	}
	if alerts, err = b.opts.Store.SlackAlerts(ctx, b.opts.Tenant, t.ID); err != nil {
		return err
	}
	if first, err = b.firstMessage(ctx, t); err != nil {
		return err
	}
	view := ticketView{T: t, Account: b.account(ctx, t), Excerpt: excerpt(first.Text, excerptRunes)}
	rows := map[string]ticket.SlackMessage{}
	for _, a := range alerts {
		rows[a.Channel] = a
	}
	var errs []error
	posted := map[string]bool{}
	open := t.Status != ticket.StatusSolved && t.Status != ticket.StatusClosed
	for _, r := range b.rules {
		row, have := rows[r.Channel]
		if posted[r.Channel] || (have && row.Posted()) || !open || !b.matches(r, t, first) {
			continue
		}
		if _, err := b.postAlert(ctx, view, r.Channel); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
		}
		posted[r.Channel] = true
	}
	for _, a := range alerts {
		if posted[a.Channel] {
			continue
		}
		if !a.Posted() {
			// Begun, never finished, and no rule asks for it now: finish it
			// anyway, so an alert that may be in Slack gets its ts.
			if _, err := b.postAlert(ctx, view, a.Channel); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				errs = append(errs, err)
			}
			continue
		}
		if e.Type != ticket.EventTicketUpdated {
			continue
		}
		_, _, _, err := b.api.UpdateMessageContext(ctx, a.ChannelID, a.TS,
			slack.MsgOptionText(fallbackText(view), false), slack.MsgOptionBlocks(b.alertBlocks(view)...))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("update alert of ticket %d in %s: %w", t.ID, a.Channel, err))
		}
	}
	return errors.Join(errs...)
}

// firstMessage is the ticket's first customer message (zero when none).
func (b *Bot) firstMessage(ctx context.Context, t ticket.Ticket) (ticket.Message, error) {
	msgs, err := b.opts.Store.TicketMessages(ctx, b.opts.Tenant, t.ID)
	if err != nil {
		return ticket.Message{}, err
	}
	for _, m := range msgs {
		if m.Direction == ticket.DirectionInbound && m.Classification == ticket.ClassNormal {
			return m, nil
		}
	}
	return ticket.Message{}, nil
}

func (b *Bot) account(ctx context.Context, t ticket.Ticket) string {
	email := ticket.NormEmail(t.Requester.Email)
	if b.opts.Accounts != nil && email != "" {
		name, err := b.opts.Accounts.AccountName(ctx, b.opts.Tenant, email)
		if err == nil && name != "" {
			return name
		}
		if err != nil && !errors.Is(err, ticket.ErrNotFound) {
			b.log.WarnContext(ctx, "chat: account look-up", "ticket", t.ID, "error", err)
		}
	}
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		return email[at+1:]
	}
	return ""
}

// matches reports whether t meets every condition of r.
func (b *Bot) matches(r compiledRule, t ticket.Ticket, first ticket.Message) bool {
	if r.MinPriority != "" && t.Priority.Rank() < r.MinPriority.Rank() {
		return false
	}
	if len(r.Mailboxes) > 0 && !slices.Contains(r.Mailboxes, t.Mailbox) {
		return false
	}
	if r.VIP && (b.opts.VIPs == nil || !b.opts.VIPs.IsVIP(t.Requester.Email)) {
		return false
	}
	if len(r.Keywords) > 0 {
		text := first.Text
		if len(text) > 64<<10 {
			text = text[:64<<10]
		}
		if _, ok := r.keywords.Match(t.Subject); !ok {
			if _, ok := r.keywords.Match(text); !ok {
				return false
			}
		}
	}
	return true
}

// postAlert makes sure the alert of v's ticket is in channel, exactly once.
func (b *Bot) postAlert(ctx context.Context, v ticketView, channel string) (ticket.SlackMessage, error) {
	id := strconv.FormatInt(v.T.ID, 10)
	key := ticket.SlackMessage{Tenant: b.opts.Tenant, Kind: ticket.SlackAlert, Ref: v.T.ID, TicketID: v.T.ID, Channel: channel}
	meta := slack.SlackMetadata{EventType: metaAlert, EventPayload: map[string]any{"tenant": b.opts.Tenant, "ticket_id": id}}
	post := func(ctx context.Context) (string, string, error) {
		return b.api.PostMessageContext(ctx, channel, slack.MsgOptionText(fallbackText(v), false),
			slack.MsgOptionBlocks(b.alertBlocks(v)...), slack.MsgOptionMetadata(meta))
	}
	match := func(m slack.Message) bool {
		return m.Metadata.EventType == metaAlert && m.Metadata.EventPayload["tenant"] == b.opts.Tenant &&
			m.Metadata.EventPayload["ticket_id"] == id
	}
	row, err := b.ensurePosted(ctx, key, post, match)
	if err != nil {
		return row, fmt.Errorf("alert of ticket %d in %s: %w", v.T.ID, channel, err)
	}
	return row, nil
}

// onMessage threads a new customer message under the ticket's alerts.
func (b *Bot) onMessage(ctx context.Context, e ticket.Event) error {
	var p ticket.EventPayload
	if len(e.Payload) > 0 {
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return fmt.Errorf("event %d payload: %w", e.ID, err)
		}
	}
	if e.Type == ticket.EventMessageReceived && (p.Reason == "new_ticket" || (p.Classification != "" && p.Classification != ticket.ClassNormal)) {
		return nil // the alert itself shows the first message; no threads for robots
	}
	var (
		alerts []ticket.SlackMessage
		m      ticket.Message
	)
	var err error
	if alerts, err = b.opts.Store.SlackAlerts(ctx, b.opts.Tenant, e.TicketID); err != nil || len(alerts) == 0 {
		return err
	}
	if m, err = b.opts.Store.Message(ctx, b.opts.Tenant, e.MessageID); err != nil {
		return err
	}
	text := replyText(m)
	switch {
	case e.Type == ticket.EventMessageFailed:
		text = failedText(m, p.Reason) // a reply of ours that could not be delivered
	case m.Direction == ticket.DirectionNote || m.Classification != ticket.ClassNormal || m.Held:
		return nil // customers' mail and agents' replies (from their own client) go to the thread
	}
	ref := strconv.FormatInt(e.ID, 10)
	meta := slack.SlackMetadata{EventType: metaReply, EventPayload: map[string]any{"tenant": b.opts.Tenant, "event_id": ref}}
	match := func(sm slack.Message) bool {
		return sm.Metadata.EventType == metaReply && sm.Metadata.EventPayload["tenant"] == b.opts.Tenant &&
			sm.Metadata.EventPayload["event_id"] == ref
	}
	var errs []error
	for _, a := range alerts {
		if !a.Posted() {
			continue // its alert failed for good; nothing to thread under
		}
		key := ticket.SlackMessage{Tenant: b.opts.Tenant, Kind: ticket.SlackReply, Ref: e.ID, TicketID: e.TicketID,
			Channel: a.Channel, ThreadTS: a.TS}
		post := func(ctx context.Context) (string, string, error) {
			return b.api.PostMessageContext(ctx, a.ChannelID, slack.MsgOptionText(text, false),
				slack.MsgOptionTS(a.TS), slack.MsgOptionMetadata(meta))
		}
		if _, err := b.ensurePosted(ctx, key, post, match); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("thread reply for event %d in %s: %w", e.ID, a.Channel, err))
		}
	}
	return errors.Join(errs...)
}

// ensurePosted posts the message keyed by key unless it is recorded as
// posted, recording the intent first and Slack's ts after. When an earlier
// attempt may have reached Slack (a row without ts: a crash, a lost
// answer), it looks for the message by its metadata before posting again.
// A post Slack refused (ok:false, 429) certainly did not happen: its row is
// dropped, so the next attempt posts without looking.
func (b *Bot) ensurePosted(ctx context.Context, key ticket.SlackMessage,
	post func(context.Context) (channelID, ts string, err error), match func(slack.Message) bool,
) (ticket.SlackMessage, error) {
	row, err := b.opts.Store.SlackMessageFor(ctx, key.Tenant, key.Kind, key.Ref, key.Channel)
	uncertain := err == nil && !row.Posted()
	if errors.Is(err, ticket.ErrNotFound) {
		row, err = b.opts.Store.BeginSlackMessage(ctx, key)
	}
	if err != nil || row.Posted() {
		return row, err
	}
	if uncertain {
		channelID, ts, err := b.findPosted(ctx, row, match)
		switch {
		case err != nil && !permanent(err):
			return row, err
		case err != nil:
			// Cannot look (no history scope?): post; a duplicate is
			// better than a lost alert.
			b.log.WarnContext(ctx, "chat: cannot look for an earlier post; posting again",
				"kind", row.Kind, "ref", row.Ref, "channel", row.Channel, "error", err)
		case ts != "":
			b.log.InfoContext(ctx, "chat: found an earlier post whose answer was lost",
				"kind", row.Kind, "ref", row.Ref, "channel", row.Channel, "ts", ts)
			return row, b.finish(ctx, &row, channelID, ts)
		}
	}
	channelID, ts, err := post(ctx)
	if err != nil {
		// Slack said no (ok:false, 429): certainly not posted. Anything
		// else (timeout, 5xx, lost connection) may have posted: the row
		// stays, and the next attempt looks first.
		if refused(err) {
			if aerr := b.opts.Store.AbortSlackMessage(ctx, row.Tenant, row.Kind, row.Ref, row.Channel); aerr != nil {
				b.log.DebugContext(ctx, "chat: drop refused post's record", "error", aerr) // the next attempt looks first
			}
		}
		return row, err
	}
	return row, b.finish(ctx, &row, channelID, ts)
}

func (b *Bot) finish(ctx context.Context, row *ticket.SlackMessage, channelID, ts string) error {
	if err := b.opts.Store.FinishSlackMessage(ctx, row.Tenant, row.Kind, row.Ref, row.Channel, channelID, ts); err != nil {
		return err
	}
	row.ChannelID, row.TS, row.PostedAt = channelID, ts, b.now().UTC()
	return nil
}

// findPosted looks for a post of row in its channel (or thread) since the
// row was begun, by its metadata. ts "" when not found.
func (b *Bot) findPosted(ctx context.Context, row ticket.SlackMessage, match func(slack.Message) bool) (string, string, error) {
	since := row.StartedAt.Add(-time.Minute) // clock skew between us and Slack
	oldest := fmt.Sprintf("%d.%06d", since.Unix(), since.Nanosecond()/1000)
	cursor := ""
	for range findPages {
		var (
			msgs []slack.Message
			next string
		)
		if row.ThreadTS == "" {
			resp, err := b.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
				ChannelID: row.Channel, Oldest: oldest, Inclusive: true, Limit: 200, Cursor: cursor, IncludeAllMetadata: true,
			})
			if err != nil {
				return "", "", fmt.Errorf("conversations.history: %w", err)
			}
			msgs, next = resp.Messages, resp.ResponseMetaData.NextCursor
		} else {
			var err error
			msgs, _, next, err = b.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
				ChannelID: row.Channel, Timestamp: row.ThreadTS, Oldest: oldest, Inclusive: true, Limit: 200,
				Cursor: cursor, IncludeAllMetadata: true,
			})
			if err != nil {
				return "", "", fmt.Errorf("conversations.replies: %w", err)
			}
		}
		for _, m := range msgs {
			if match(m) {
				ch := m.Channel
				if ch == "" {
					ch = row.Channel
				}
				return ch, m.Timestamp, nil
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return "", "", nil
}

// transientSlackErrors are ok:false answers worth retrying: Slack's own
// trouble, and credentials an admin can fix (alerts wait for them rather
// than being dropped).
var transientSlackErrors = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true, "request_timeout": true,
	"ratelimited": true, "rate_limited": true, "invalid_auth": true, "not_authed": true,
	"account_inactive": true, "token_revoked": true, "token_expired": true, "team_access_not_granted": true,
}

// permanent reports an answer that retrying cannot change: an ok:false
// error such as channel_not_found, not_in_channel, invalid_blocks.
func permanent(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return !transientSlackErrors[se.Err]
	}
	return false
}

// refused reports that Slack answered and did not act: ok:false or 429.
func refused(err error) bool {
	var se slack.SlackErrorResponse
	var rl *slack.RateLimitedError
	return errors.As(err, &se) || errors.As(err, &rl)
}
