package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/sidedesk/sidedesk/mailout"
	"github.com/sidedesk/sidedesk/outbox"
	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/option"
)

// mailService builds the outgoing mail service over the mailboxes that
// send (smtp_host); nil when none does.
func (a *app) mailService() (*mailout.Service, error) {
	var boxes []mailout.Mailbox
	for _, mb := range a.cfg.Mailboxes {
		if !mb.Enabled {
			continue
		}
		m := mailout.Mailbox{Name: mb.Name, Tenant: mb.Tenant, Address: mb.Address, Aliases: mb.Aliases,
			FromName: mb.FromName, Ack: mb.Ack && a.cfg.Ticket.AckEnabled}
		if mb.SendsByGmail() {
			client, err := a.gmailClient(context.Background(), mb)
			if err != nil {
				return nil, err
			}
			opts := []option.ClientOption{option.WithHTTPClient(client)}
			if mb.APIBaseURL != "" {
				opts = append(opts, option.WithEndpoint(mb.APIBaseURL))
			}
			svc, err := gmail.NewService(context.Background(), opts...)
			if err != nil {
				return nil, fmt.Errorf("mailbox %q: gmail_send: %w", mb.Name, err)
			}
			m.Transport = &mailout.Gmail{Service: svc, User: mb.User}
		} else if mb.Sends() {
			host, _ := os.Hostname()
			tr := &mailout.SMTP{Host: mb.SMTPHost, Port: mb.SMTPPort, TLS: mb.SMTPTLS, Auth: mb.SMTPAuth,
				Username: mb.SMTPUsername, Password: a.secretFunc(mb.SMTPPassword()), LocalName: host}
			if mb.SMTPAuth == "xoauth2" {
				ts, err := a.mailAuth(mb)
				if err != nil {
					return nil, err
				}
				tr.Token, tr.TokenRejected = ts.Token, ts.Forget
			}
			a.closers = append(a.closers, tr.Close) // the kept session says QUIT
			m.Transport = tr
		}
		boxes = append(boxes, m)
	}
	if !slices.ContainsFunc(boxes, func(m mailout.Mailbox) bool { return m.Transport != nil }) {
		return nil, nil
	}
	t := a.cfg.Ticket
	return mailout.New(mailout.Options{
		Store: a.store, Blobs: a.store.Blobs(), Tickets: a.tickets, Mailboxes: boxes,
		ReplySecret: subkey(a.secret, "reply-address"), TagPrefix: t.TagPrefix,
		Ack:    mailout.AckOptions{Interval: t.AckInterval, MaxAge: t.AckMaxAge, Subject: t.AckSubject, Body: t.AckBody},
		Logger: a.log.With("component", "mailout"),
	})
}

// mailConsumers are the outbox consumers of outgoing mail: one per tenant
// with a sending mailbox.
func (a *app) mailConsumers(mail *mailout.Service) []outbox.Consumer {
	if mail == nil {
		return nil
	}
	var out []outbox.Consumer
	seen := map[string]bool{}
	for _, mb := range a.cfg.Mailboxes {
		if !mb.Enabled || !mb.Sends() || seen[mb.Tenant] {
			continue
		}
		seen[mb.Tenant] = true
		// GiveUpAfter is mailout's own (a message queued too long is
		// marked failed); the runner must not bury it sooner.
		out = append(out, outbox.Consumer{Name: mailout.ConsumerName(mb.Tenant), Tenant: mb.Tenant,
			Deliver: mail.Deliver, GiveUpAfter: 72 * time.Hour})
	}
	return out
}
