package gmailsource

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/capture/gmailsource/gmailtest"
	"github.com/sidedesk/sidedesk/capture/imapsource"
	"github.com/sidedesk/sidedesk/internal/testenv"
)

// The same mail (the demo corpus) captured from a real IMAP server by
// imapsource and from the fake Gmail API makes the same tickets: the same
// messages grouped the same way.
func TestSameTicketsAsIMAP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Dovecot")
	}
	mails := corpus(t)
	user := testenv.User{Email: "support@acme.example", Password: "imap-secret"}
	dc := testenv.StartDovecot(t, user)
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	n, err := testenv.FillMaildir(dc.MaildirFor(user.Email), func(yield func(testenv.MaildirMessage) bool) {
		for i, m := range mails {
			if !yield(testenv.MaildirMessage{Raw: m, Received: start.Add(time.Duration(i) * time.Minute)}) {
				return
			}
		}
	})
	if err != nil || n != len(mails) {
		t.Fatalf("fill maildir: %d, %v", n, err)
	}
	viaIMAP := newEnv(t)
	imap, err := imapsource.New(imapsource.Options{
		Name: "support", Host: "127.0.0.1", Port: dc.Port(), TLS: "none",
		Username: user.Email, Password: func(context.Context) (string, error) { return user.Password, nil },
		InitialSync: "since", Since: start.AddDate(0, 0, -1),
		State: viaIMAP.st, Pipeline: viaIMAP.pipeline, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imap.Once(context.Background()); err != nil {
		t.Fatalf("imap capture: %v", err)
	}

	viaGmail := newEnv(t)
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	for _, m := range mails {
		fake.AddMessage("me", m)
	}
	src, _ := newSource(t, viaGmail, fake, nil)
	mustOnce(t, src)

	want, got := grouping(t, viaIMAP), grouping(t, viaGmail)
	if len(want) < len(mails)/2 || !maps.Equal(got, want) {
		t.Fatalf("tickets differ:\n gmail: %v\n imap:  %v", got, want)
	}
	if a, b := countMessages(t, viaIMAP), countMessages(t, viaGmail); a != b || a != len(mails) {
		t.Fatalf("messages: imap %d, gmail %d, mails %d", a, b, len(mails))
	}
	tickets := slices.Collect(maps.Values(got))
	slices.Sort(tickets)
	t.Logf("%d mails → %d tickets through both paths", len(mails), len(slices.Compact(tickets)))
}
