package main

import (
	"net/http"

	"github.com/sidedesk/sidedesk/chat"
	"github.com/sidedesk/sidedesk/ticket"
)

// slackBot builds the Slack integration from [slack], or nil when off.
func (a *app) slackBot() (*chat.Bot, error) {
	s := a.cfg.Slack
	if !s.Enabled {
		return nil, nil
	}
	opts := chat.Options{
		Store:        a.store,
		Tickets:      a.tickets,
		Logger:       a.log.With("component", "slack"),
		Tenant:       s.Tenant,
		Mode:         s.Mode,
		Command:      s.Command,
		PublicURL:    a.cfg.Server.PublicURL,
		VIPs:         a.prio,
		Accounts:     crmAccounts{a.conn},
		APIURL:       s.APIURL,
		PollInterval: s.PollInterval,
		MaxBackoff:   s.MaxBackoff,
	}
	var err error
	if opts.BotToken, err = s.BotToken().Resolve(a.cfg.Getenv); err != nil {
		return nil, err
	}
	if s.Mode == chat.ModeHTTP {
		if opts.SigningSecret, err = s.SigningSecret().Resolve(a.cfg.Getenv); err != nil {
			return nil, err
		}
	} else if opts.AppToken, err = s.AppToken().Resolve(a.cfg.Getenv); err != nil {
		return nil, err
	}
	for _, r := range s.Alerts {
		opts.Rules = append(opts.Rules, chat.AlertRule{
			Name:        r.Name,
			Channel:     r.Channel,
			MinPriority: ticket.Priority(r.MinPriority),
			Mailboxes:   r.Mailboxes,
			VIP:         r.VIP,
			Keywords:    r.Keywords,
		})
	}
	return chat.New(opts)
}

// slackRoutes is the HTTP-mode endpoint mux, or nil in socket mode.
func (a *app) slackRoutes(bot *chat.Bot) http.Handler {
	if bot == nil || a.cfg.Slack.Mode != chat.ModeHTTP {
		return nil
	}
	mux := http.NewServeMux()
	bot.Register(mux)
	return mux
}
