// Package chat is sidedesk's Slack side: alerts about high-priority tickets,
// delivered from the transactional outbox, updated in place when the ticket
// changes and threaded with the customer's new messages; buttons and a slash
// command to act on tickets from Slack, over Socket Mode (the default: no
// public URL needed) or signed HTTP requests.
//
// Delivery is at-least-once without duplicates: every post is recorded
// (ticket.SlackMessage) before it is made and completed with Slack's ts
// after; the outbox cursor moves only after that. A post whose answer was
// lost (crash, timeout, 5xx) carries Slack message metadata naming what it
// is, and before posting it again the dispatcher looks for it in the channel
// (conversations.history / conversations.replies). Capture never waits for
// Slack: it only writes events.
package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/sidedesk/sidedesk/ticket"
)

// Store is the persistence chat uses; *store.Store implements it.
type Store interface {
	Ticket(ctx context.Context, tenant string, id int64) (ticket.Ticket, error)
	TicketByNumber(ctx context.Context, tenant string, number int64) (ticket.Ticket, error)
	TicketMessages(ctx context.Context, tenant string, ticketID int64) ([]ticket.Message, error)
	Message(ctx context.Context, tenant string, id int64) (ticket.Message, error)
	ListTickets(ctx context.Context, tenant string, f ticket.TicketFilter) ([]ticket.Ticket, string, error)
	UserByEmail(ctx context.Context, tenant, email string) (ticket.User, error)

	BeginSlackMessage(ctx context.Context, m ticket.SlackMessage) (ticket.SlackMessage, error)
	FinishSlackMessage(ctx context.Context, tenant, kind string, ref int64, channel, channelID, ts string) error
	SlackMessageFor(ctx context.Context, tenant, kind string, ref int64, channel string) (ticket.SlackMessage, error)
	SlackAlerts(ctx context.Context, tenant string, ticketID int64) ([]ticket.SlackMessage, error)
	// AbortSlackMessage drops a begun, unposted record (Slack refused
	// the post); a posted one is left alone.
	AbortSlackMessage(ctx context.Context, tenant, kind string, ref int64, channel string) error
	// ClaimOnce records a signed request's key until until and reports
	// whether it is the first use (false: a replay).
	ClaimOnce(ctx context.Context, key string, until time.Time) (bool, error)
}

// Tickets is the domain service the buttons act through; *ticket.Service
// implements it.
type Tickets interface {
	Update(ctx context.Context, tenant string, id int64, ch ticket.Change) (ticket.Ticket, error)
}

// VIPs says whether a requester is a VIP (the alert rules' VIP condition);
// *ticket.Prioritizer implements it.
type VIPs interface {
	IsVIP(email string) bool
}

// Accounts names the CRM account behind a requester for the alert; nil
// shows the requester's email domain. (The CRM arrives in a later issue.)
type Accounts interface {
	AccountName(ctx context.Context, tenant, email string) (string, error)
}

// AlertRule sends an alert to Channel for tickets meeting every condition
// set (an unset condition holds for every ticket).
type AlertRule struct {
	Name string
	// Channel is the Slack channel ID (C0123ABC...). IDs, not names:
	// chat.update and conversations.history only take IDs.
	Channel string
	// MinPriority: the ticket's priority is at least this.
	MinPriority ticket.Priority
	// Mailboxes: the ticket came in through one of these mailboxes.
	Mailboxes []string
	// VIP: the requester is a VIP sender (Options.VIPs).
	VIP bool
	// Keywords: one of these occurs as a whole word (any case) in the
	// subject or the text of the ticket's first message.
	Keywords []string
}

// Modes of receiving Slack's interactions and commands.
const (
	ModeSocket = "socket"
	ModeHTTP   = "http"
)

// Options configures New. Zero fields take the documented defaults.
type Options struct {
	Store   Store   // required
	Tickets Tickets // required
	Logger  *slog.Logger

	// Tenant is the sidedesk tenant this Slack workspace serves. Default
	// "default".
	Tenant string
	// BotToken (xoxb-...) for the Web API; required. Scopes: chat:write,
	// channels:history and groups:history (finding a post whose answer was
	// lost), users:read and users:read.email (Slack user → agent), commands.
	BotToken string
	// AppToken (xapp-..., connections:write) for Socket Mode.
	AppToken string
	// SigningSecret verifies the HTTP endpoints' requests.
	SigningSecret string
	// Mode is ModeSocket (default; needs AppToken) or ModeHTTP (needs
	// SigningSecret; mount Register on the HTTP server).
	Mode string
	// Command is the slash command's name. Default "/sidedesk".
	Command string
	// PublicURL is sidedesk's external base URL; alerts link to
	// PublicURL + "/sidebar?ticket=N".
	PublicURL string
	Rules     []AlertRule
	VIPs      VIPs     // for AlertRule.VIP; nil: nobody is a VIP
	Accounts  Accounts // optional

	// APIURL is the Slack Web API base URL (tests). Default slack.APIURL.
	APIURL     string
	HTTPClient *http.Client
	// PollInterval is how often the outbox consumer (Consumer) looks for
	// events other processes committed; this process's commits wake it at
	// once. Default 250ms.
	PollInterval time.Duration
	// MaxBackoff caps the wait between retries of a failing delivery
	// (5xx, network). Default 1 minute. Retry-After of a 429 is honoured
	// as given.
	MaxBackoff time.Duration
}

// Defaults of Options.
const (
	DefaultCommand      = "/sidedesk"
	DefaultPollInterval = 250 * time.Millisecond
	DefaultMaxBackoff   = time.Minute
)

// Bot is the Slack integration of one tenant. Run it; in HTTP mode also
// mount Register.
type Bot struct {
	opts  Options
	log   *slog.Logger
	api   *slack.Client
	rules []compiledRule

	mu     sync.Mutex
	agents map[string]agentEntry // Slack user id → agent, briefly cached

	actions sync.WaitGroup // interactions acted on after their HTTP answer

	// Seams for tests in this package.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

type compiledRule struct {
	AlertRule
	keywords *ticket.Keywords
}

// New checks opts and builds the bot; it contacts nobody.
func New(opts Options) (*Bot, error) {
	if opts.Store == nil || opts.Tickets == nil {
		return nil, errors.New("chat: Options.Store and Options.Tickets are required")
	}
	if opts.BotToken == "" {
		return nil, errors.New("chat: Options.BotToken is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Tenant == "" {
		opts.Tenant = ticket.DefaultTenant
	}
	switch opts.Mode {
	case "", ModeSocket:
		opts.Mode = ModeSocket
		if opts.AppToken == "" {
			return nil, errors.New("chat: socket mode needs Options.AppToken (xapp-...)")
		}
	case ModeHTTP:
		if opts.SigningSecret == "" {
			return nil, errors.New("chat: http mode needs Options.SigningSecret")
		}
	default:
		return nil, fmt.Errorf("chat: Options.Mode %q: want socket or http", opts.Mode)
	}
	if opts.Command == "" {
		opts.Command = DefaultCommand
	}
	if !strings.HasPrefix(opts.Command, "/") || strings.ContainsAny(opts.Command, " \t") {
		return nil, fmt.Errorf("chat: Options.Command %q: want /name", opts.Command)
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	b := &Bot{
		opts:   opts,
		log:    opts.Logger,
		agents: map[string]agentEntry{},
		now:    time.Now,
		sleep:  sleepCtx,
	}
	for i, r := range opts.Rules {
		if r.Channel == "" {
			return nil, fmt.Errorf("chat: alert rule %d (%s): no channel", i+1, r.Name)
		}
		if r.MinPriority != "" && !r.MinPriority.Valid() {
			return nil, fmt.Errorf("chat: alert rule %d (%s): priority %q: want low, normal, high or urgent", i+1, r.Name, r.MinPriority)
		}
		kw, err := ticket.CompileKeywords(r.Keywords)
		if err != nil {
			return nil, fmt.Errorf("chat: alert rule %d (%s): %w", i+1, r.Name, err)
		}
		b.rules = append(b.rules, compiledRule{AlertRule: r, keywords: kw})
	}
	apiOpts := []slack.Option{slack.OptionAppLevelToken(opts.AppToken)}
	if opts.APIURL != "" && !strings.HasSuffix(opts.APIURL, "/") {
		// slack-go appends the method name ("chat.postMessage") to it.
		opts.APIURL += "/"
	}
	if opts.APIURL != "" {
		apiOpts = append(apiOpts, slack.OptionAPIURL(opts.APIURL))
	}
	if opts.HTTPClient != nil {
		apiOpts = append(apiOpts, slack.OptionHTTPClient(opts.HTTPClient))
	} else {
		apiOpts = append(apiOpts, slack.OptionHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	}
	b.api = slack.New(opts.BotToken, apiOpts...)
	return b, nil
}

// Wait returns when every interaction acknowledged over HTTP has been
// acted on. Call it after the HTTP server stopped taking requests (its
// Shutdown returned), so that no new one starts meanwhile.
func (b *Bot) Wait() { b.actions.Wait() }

// Run receives Slack's interactions and commands in socket mode until ctx
// ends; in HTTP mode (mount Register) it only waits for ctx. It returns nil
// when ctx is cancelled. Alerts go out through the outbox: run Consumer on
// an outbox.Runner beside it. Interactions received over HTTP are acted on
// after their answer: call Wait once the HTTP server has shut down.
func (b *Bot) Run(ctx context.Context) error {
	if b.opts.Mode != ModeSocket {
		<-ctx.Done()
		return nil
	}
	return b.RunSocketMode(ctx)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
