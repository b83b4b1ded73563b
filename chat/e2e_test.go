package chat

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/capture/imapsource"
	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/ticket"
)

const (
	e2eUser = "support@acme.example"
	e2ePass = "imap-secret"
)

// startCapture runs an IMAP source on the Dovecot user's INBOX (IDLE) into
// the env's pipeline until the test ends.
func (e *env) startCapture(d *testenv.Dovecot) {
	e.t.Helper()
	src, err := imapsource.New(imapsource.Options{
		Name: "support", Host: "127.0.0.1", Port: d.Port(), TLS: imapsource.TLSNone,
		Username: e2eUser, Password: func(context.Context) (string, error) { return e2ePass, nil },
		InitialSync: imapsource.InitialSince, Since: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		IDLE: true, PollInterval: time.Second, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		State: e.st, Lease: e.st,
		Pipeline: &capture.Pipeline{Blobs: e.st.Blobs(), Sink: e.svc},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = src.Run(ctx)
	}()
	e.t.Cleanup(func() { cancel(); <-done })
}

func rawMail(n int, from, subject, extraHeaders, body string) []byte {
	return []byte(strings.ReplaceAll(fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nMessage-ID: <e2e-%d-%d@customer.example>\n"+
		"Date: %s\n%sMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n%s\n",
		from, e2eUser, subject, n, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z), extraHeaders, body), "\n", "\r\n"))
}

func (e *env) waitMessages(n int) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := e.st.CountMessages(context.Background(), ticket.DefaultTenant)
		if err != nil {
			e.t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("captured %d messages, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDovecotUrgentMailAlertsOnce(t *testing.T) {
	d := testenv.StartDovecot(t, testenv.User{Email: e2eUser, Password: e2ePass})
	e := newEnv(t)
	e.run(e.bot())
	e.startCapture(d)

	d.Append(t, e2eUser, "INBOX", rawMail(1, "Quinn <quinn@customer.example>", "Question about my invoice", "", "Hi, where is my invoice?"))
	d.Append(t, e2eUser, "INBOX", rawMail(2, "Mailer <noreply@customer.example>", "Automatic reply: outage",
		"Auto-Submitted: auto-replied\nImportance: high\n", "I am away; for an outage call 123."))
	d.Append(t, e2eUser, "INBOX", rawMail(3, "Rosa Ops <rosa@bigcorp.example>", "URGENT: payments down",
		"Importance: high\n", "Since 10:02 every payment fails with error 500."))
	e.waitMessages(3)
	e.settle()

	posts, _, _ := e.slack.snapshot()
	if len(posts) != 1 {
		t.Fatalf("%d posts, want exactly 1: %+v", len(posts), posts)
	}
	texts := blockTexts(posts[0].Blocks)
	for _, want := range []string{
		"|#2 URGENT: payments down>*", // #1 is the invoice question; the auto-reply makes no ticket
		"*Requester*\nRosa Ops <mailto:rosa@bigcorp.example|rosa@bigcorp.example>",
		"*Account*\nbigcorp.example",
		"*Priority*\n:red_circle: Urgent",
		"> Since 10:02 every payment fails with error 500.",
	} {
		if !hasText(texts, want) {
			t.Errorf("alert lacks %q: %q", want, texts)
		}
	}
	if ids, initial := actions(posts[0].Blocks); len(ids) != 4 || initial != "urgent" {
		t.Errorf("actions %q, select %q", ids, initial)
	}
}

// latencies measures mail → alert: deliver(i, subject) hands mail i with
// that subject to sidedesk; the fake Slack notes when each alert arrives.
// Mails go one at a time. It reports p50 and p99 over all mails.
func latencies(b *testing.B, e *env, n int, deliver func(i int, subject string)) {
	arrived := make(chan sent, n)
	e.slack.mu.Lock()
	e.slack.onPost = func(s sent) { arrived <- s }
	e.slack.mu.Unlock()
	var all []time.Duration
	round := 0
	for b.Loop() {
		round++
		for i := range n {
			subject := fmt.Sprintf("outage %d-%d", round, i)
			start := time.Now()
			deliver(i, subject)
			select {
			case s := <-arrived:
				if !strings.Contains(s.Text, "] "+subject+" (") {
					b.Fatalf("alert %q for mail %q", s.Text, subject)
				}
				all = append(all, time.Since(start))
			case <-time.After(60 * time.Second):
				b.Fatalf("no alert for mail %q", subject)
			}
		}
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(all)), "mails")
}

// BenchmarkMailToAlert is the in-process pipeline: ticket.Service.Ingest of
// an urgent mail to the alert arriving at the fake Slack, the outbox runner
// woken by the store's commit (mails come one at a time, each just after
// the runner went idle).
func BenchmarkMailToAlert(b *testing.B) {
	e := newEnv(b)
	e.opts.PollInterval = 0 // the default
	e.run(e.bot())
	latencies(b, e, 50, func(i int, subject string) {
		e.ingest(e.mail(subject, "please help", func(in *ticket.Inbound) {
			in.From.Email = fmt.Sprintf("c%d-%d@customer.example", i, time.Now().UnixNano())
		}))
	})
}

// BenchmarkDovecotMailToAlert is the whole path: APPEND to Dovecot, IDLE,
// capture, Ingest, outbox, dispatcher, Slack.
func BenchmarkDovecotMailToAlert(b *testing.B) {
	d := testenv.StartDovecot(b, testenv.User{Email: e2eUser, Password: e2ePass})
	e := newEnv(b)
	e.opts.PollInterval = 0
	e.run(e.bot())
	e.startCapture(d)
	time.Sleep(500 * time.Millisecond) // let the source reach IDLE before the clock starts
	n := 0
	latencies(b, e, 50, func(i int, subject string) {
		n++
		d.Append(b, e2eUser, "INBOX", rawMail(n, fmt.Sprintf("c%d@customer.example", n), subject, "", "please help"))
	})
}
