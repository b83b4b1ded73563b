package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/sidedesk/sidedesk/capture/gmailsource"
	"github.com/sidedesk/sidedesk/config"
)

// gmailClient is the mailbox's authorised Gmail API client (capture and
// gmail_send share its scopes, so one token serves both).
func (a *app) gmailClient(ctx context.Context, mb config.Mailbox) (*http.Client, error) {
	auth := gmailsource.AuthOptions{
		Kind:     mb.GmailAuth,
		ClientID: mb.ClientID,
		Subject:  mb.User,
		TokenURL: mb.TokenURL,
		Modify:   mb.LabelAfterCapture != "",
		Send:     mb.SendsByGmail(),
	}
	var err error
	switch mb.GmailAuth {
	case "service_account":
		if auth.CredentialsJSON, err = os.ReadFile(mb.CredentialsFile); err != nil {
			return nil, fmt.Errorf("mailbox %q: credentials_file: %w", mb.Name, err)
		}
	default:
		if auth.ClientSecret, err = mb.ClientSecret().Resolve(a.cfg.Getenv); err != nil {
			return nil, err
		}
		if auth.RefreshToken, err = mb.RefreshToken().Resolve(a.cfg.Getenv); err != nil {
			return nil, err
		}
	}
	client, err := gmailsource.NewHTTPClient(ctx, auth)
	if err != nil {
		return nil, fmt.Errorf("mailbox %q: %w", mb.Name, err)
	}
	return client, nil
}

// gmailSource captures mb's query, or with outgoing its sent_folder label
// (polled: the watch and push serve the query's labels).
func (a *app) gmailSource(ctx context.Context, mb config.Mailbox, outgoing bool) (*gmailsource.Source, error) {
	client, err := a.gmailClient(ctx, mb)
	if err != nil {
		return nil, err
	}
	if outgoing {
		mb.Query, mb.GmailPubSubTopic, mb.LabelAfterCapture = "label:"+gmailLabelTerm(mb.SentFolder), "", ""
	}
	return gmailsource.New(ctx, gmailsource.Options{
		Outgoing:          outgoing,
		Name:              mb.Name,
		Tenant:            mb.Tenant,
		User:              mb.User,
		Query:             mb.Query,
		HTTPClient:        client,
		BaseURL:           mb.APIBaseURL,
		PollInterval:      mb.GmailPollInterval,
		PubSubTopic:       mb.GmailPubSubTopic,
		WatchLabels:       mb.GmailWatchLabels,
		LabelAfterCapture: mb.LabelAfterCapture,
		State:             a.store,
		Lease:             a.store,
		Known:             a.store,
		Pipeline:          a.pipeline,
		Status:            a.status,
		Metrics:           a.metrics,
		Logger:            a.log.With("mailbox", mb.Name),
	})
}

// gmailPush returns the Pub/Sub push handler for the Gmail mailboxes that
// configure a push token, or nil when none does. All of them must share one
// token, since Pub/Sub calls one URL per subscription.
func (a *app) gmailPush(srcs map[string]source) (http.Handler, error) {
	var token string
	byAddr := map[string]*gmailsource.Source{}
	for _, mb := range a.cfg.Mailboxes {
		gs, ok := srcs[mb.Name].(*gmailsource.Source)
		if !ok || !mb.PushToken().IsSet() {
			continue
		}
		t, err := mb.PushToken().Resolve(a.cfg.Getenv)
		if err != nil {
			return nil, err
		}
		if token != "" && t != token {
			return nil, fmt.Errorf("mailbox %q: push_token differs from another gmail mailbox's; one push endpoint serves all, so use one token", mb.Name)
		}
		token = t
		byAddr[mb.User] = gs
	}
	if token == "" {
		return nil, nil
	}
	return gmailsource.PushHandler(token, byAddr, a.log), nil
}

// gmailLabelTerm writes a label name as a Gmail search term's value: Gmail
// search reads spaces and slashes in label names as dashes.
func gmailLabelTerm(name string) string {
	return strings.NewReplacer(" ", "-", "/", "-").Replace(name)
}
