package gmailsource

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/gmail/v1"

	"github.com/sidedesk/sidedesk/capture/gmailsource/gmailtest"
)

const testTopic = "projects/acme-support/topics/gmail-push"

// step is one iteration of Run without the wait: a pass, then the watch.
func step(t *testing.T, src *Source) error {
	t.Helper()
	ctx := context.Background()
	_, err := src.pass(ctx)
	src.afterPass(ctx, err)
	return err
}

// clock is an injected Source clock the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func useClock(src *Source) *clock {
	c := &clock{t: time.Now()}
	src.now = c.now
	return c
}

func createLabel(t *testing.T, src *Source, name string) string {
	t.Helper()
	l, err := src.svc.Users.Labels.Create("me", &gmail.Label{Name: name}).Do()
	if err != nil {
		t.Fatal(err)
	}
	return l.Id
}

// The watch is registered after the first successful sync, with the
// configured topic and labels (or labels derived from the query), and not
// at all without a topic.
func TestWatchRegisteredAfterFirstSync(t *testing.T) {
	tests := []struct {
		name   string
		topic  string
		query  string
		labels []string // Options.WatchLabels
		want   []string // label ids sent; "Label" = the created user label's id
	}{
		{"default query watches INBOX", testTopic, "", nil, []string{"INBOX"}},
		{"configured labels by name and id", testTopic, "", []string{"support/urgent", "STARRED"}, []string{"Label", "STARRED"}},
		{"label query", testTopic, "label:support-urgent is:unread", nil, []string{"Label"}},
		{"is: only query", testTopic, "is:unread", nil, []string{"UNREAD"}},
		{"general query", testTopic, "from:customer@example.com", nil, []string{"INBOX"}},
		{"general query with a label", testTopic, "label:support-urgent from:customer@example.com", nil, []string{"Label"}},
		{"anywhere watches everything", testTopic, "in:anywhere", nil, nil},
		{"no topic: no watch", "", "", nil, nil},
	}
	e := newEnvFsync(t, false) // shared: each case captures its own mailbox
	for i, tc := range tests {
		name := fmt.Sprintf("m%d", i)
		t.Run(tc.name, func(t *testing.T) {
			fake := gmailtest.New(gmailtest.Options{})
			defer fake.Close()
			fake.AddMessage("me", gmailtest.Corpus(1)[0])
			src, _ := newSource(t, e, fake, func(o *Options) {
				o.Name, o.PubSubTopic, o.Query, o.WatchLabels = name, tc.topic, tc.query, tc.labels
			})
			userLabel := createLabel(t, src, "Support/Urgent")

			// A failed first sync registers nothing.
			fake.InjectFault(gmailtest.Fault{Op: "profile", Status: 500, Times: 100})
			if err := step(t, src); err == nil {
				t.Fatal("pass succeeded despite the faults")
			}
			if n := fake.Requests()["watch"]; n != 0 {
				t.Fatalf("%d watch calls after a failed sync", n)
			}
			fake.ClearFaults()

			if err := step(t, src); err != nil {
				t.Fatal(err)
			}
			if _, err := e.st.SyncState(context.Background(), "default", name); err != nil {
				t.Fatalf("first sync recorded no state: %v", err)
			}
			ws := fake.Watches("me")
			if tc.topic == "" {
				if len(ws) != 0 || fake.Requests()["watch"] != 0 {
					t.Fatalf("watch without a topic: %+v", ws)
				}
				return
			}
			want := slices.Clone(tc.want)
			for i, l := range want {
				if l == "Label" {
					want[i] = userLabel
				}
			}
			wantBehavior := "include"
			if len(want) == 0 {
				wantBehavior = ""
			}
			if len(ws) != 1 || ws[0].TopicName != tc.topic || !slices.Equal(ws[0].LabelIDs, want) || ws[0].LabelFilterBehavior != wantBehavior {
				t.Fatalf("watches %+v, want one on %s for %q (%q)", ws, tc.topic, want, wantBehavior)
			}
			// The next passes do not call it again (renewal is daily).
			step(t, src)
			if n := len(fake.Watches("me")); n != 1 {
				t.Fatalf("%d watches after an idle pass, want 1", n)
			}
		})
	}
}

// The watch is renewed a day after registration, or a day before it
// expires when that is sooner, and right after a failed pass (401).
func TestWatchRenewal(t *testing.T) {
	tests := []struct {
		name   string
		expiry time.Duration // of a watch on the fake
		fault  int           // a history.list failure before the first check
		quiet  time.Duration // no renewal yet at this age
		renew  time.Duration // renewed at this age
	}{
		{"daily", 7 * 24 * time.Hour, 0, 23 * time.Hour, 24*time.Hour + time.Minute},
		{"a day before expiry", 30 * time.Hour, 0, 5 * time.Hour, 6*time.Hour + time.Minute},
		{"half way when under a day", 2 * time.Hour, 0, 59 * time.Minute, 61 * time.Minute},
		{"after a 401", 7 * 24 * time.Hour, 401, -1, time.Minute},
		{"after a 5xx outage", 7 * 24 * time.Hour, 503, -1, time.Minute},
	}
	e := newEnvFsync(t, false) // shared: each case captures its own mailbox
	for i, tc := range tests {
		name := fmt.Sprintf("m%d", i)
		t.Run(tc.name, func(t *testing.T) {
			fake := gmailtest.New(gmailtest.Options{WatchExpiry: tc.expiry})
			defer fake.Close()
			src, _ := newSource(t, e, fake, func(o *Options) { o.Name, o.PubSubTopic, o.MaxRetries = name, testTopic, 1 })
			c := useClock(src)
			if err := step(t, src); err != nil {
				t.Fatal(err)
			}
			start := c.t
			if tc.quiet >= 0 {
				c.t = start.Add(tc.quiet)
				if err := step(t, src); err != nil {
					t.Fatal(err)
				}
				if n := len(fake.Watches("me")); n != 1 {
					t.Fatalf("%d watches at %v, want no renewal yet", n, tc.quiet)
				}
			}
			if tc.fault != 0 {
				fake.InjectFault(gmailtest.Fault{Op: "history.list", Status: tc.fault, Times: 2})
				if err := step(t, src); err == nil {
					t.Fatal("pass succeeded despite the fault")
				}
				fake.ClearFaults()
			}
			c.t = start.Add(tc.renew)
			if err := step(t, src); err != nil {
				t.Fatal(err)
			}
			if n := len(fake.Watches("me")); n != 2 {
				t.Fatalf("%d watches at %v, want a renewal", n, tc.renew)
			}
		})
	}
}

// A 403 on users.watch (Gmail may not publish to the topic) is logged and
// shown in the mailbox status with the fix; capture goes on by polling, and
// the watch is retried with backoff until it works.
func TestWatchForbiddenKeepsPolling(t *testing.T) {
	const denied = "Error sending test message to Cloud PubSub projects/acme-support/topics/gmail-push : User not authorized to perform this action."
	e := newEnvFsync(t, false)
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	fake.InjectFault(gmailtest.Fault{Op: "watch", Status: 403, Message: denied, Times: 1000})
	src, _ := newSource(t, e, fake, func(o *Options) {
		o.PubSubTopic = testTopic
		o.PollInterval = 20 * time.Millisecond
	})
	lastErr := func() string {
		for _, m := range e.status.Snapshot() {
			return m.LastError
		}
		return ""
	}
	stop := startRun(t, src)
	waitFor(t, func() bool { return fake.Requests()["watch"] > 0 && lastErr() != "" })
	fake.AddMessage("me", gmailtest.Corpus(1)[0])
	waitFor(t, func() bool { return countMessages(t, e) == 1 })
	snap := e.status.Snapshot()
	stop()
	if len(snap) != 1 || !snap[0].Connected || snap[0].LastSync.IsZero() {
		t.Fatalf("status %+v: want connected and syncing", snap)
	}
	for _, want := range []string{"403", "not authorized", "gmail-api-push@system.gserviceaccount.com needs Publish", testTopic} {
		if !strings.Contains(snap[0].LastError, want) {
			t.Errorf("status last error %q lacks %q", snap[0].LastError, want)
		}
	}
	if n := fake.Requests()["watch"]; n != 1 {
		t.Errorf("%d watch calls while Run polled for a short while; want 1 (retries back off from a minute)", n)
	}
	// doctor (Check) reports it too.
	if err := src.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "gmail-api-push@system.gserviceaccount.com") {
		t.Errorf("Check: %v", err)
	}

	// Retried with backoff (the first wait is 30-60 s): not within 29 s,
	// by two minutes; the error clears when a watch succeeds.
	c := useClock(src)
	calls := fake.Requests()["watch"]
	c.advance(29 * time.Second)
	step(t, src)
	if got := fake.Requests()["watch"]; got != calls {
		t.Fatalf("watch calls %d -> %d within 29 s: retried before the backoff", calls, got)
	}
	c.advance(91 * time.Second)
	step(t, src)
	if got := fake.Requests()["watch"]; got != calls+1 {
		t.Fatalf("watch calls %d -> %d: want one retry after the backoff", calls, got)
	}
	fake.ClearFaults()
	c.advance(time.Hour)
	step(t, src)
	if ws := fake.Watches("me"); len(ws) != 1 {
		t.Fatalf("watches %+v after the permission was granted", ws)
	}
	if got := lastErr(); got != "" {
		t.Errorf("status still shows %q after the watch succeeded", got)
	}
}

// With a watch registered, Gmail's push (here the fake publishing to our
// PushHandler as a Pub/Sub push subscription would) makes new mail a ticket
// at once, without waiting for the poll.
func TestPushAfterWatchCapturesAtOnce(t *testing.T) {
	e := newEnvFsync(t, false)
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	src, _ := newSource(t, e, fake, func(o *Options) {
		o.PubSubTopic = testTopic
		o.PollInterval = time.Hour
	})
	srv := httptest.NewServer(PushHandler("tok", map[string]*Source{fake.User(): src}, nil))
	defer srv.Close()
	fake.SetPushURL(srv.URL + "/gmail/push?token=tok")

	startRun(t, src)
	waitFor(t, func() bool { return len(fake.Watches("me")) == 1 })
	fake.AddMessage("me", gmailtest.Corpus(1)[0])
	waitFor(t, func() bool { return countMessages(t, e) == 1 })
}

// Polling relaxes to WatchPollInterval only while a watch is active and a
// push has arrived since it was registered.
func TestPollIntervalUnderWatch(t *testing.T) {
	tests := []struct {
		name          string
		poll, relaxed time.Duration // Options
		want          time.Duration // after a push under an active watch
	}{
		{"defaults", 0, 0, 60 * time.Second},
		{"configured", 0, 10 * time.Minute, 10 * time.Minute},
		{"never below the poll interval", 2 * time.Minute, 0, 2 * time.Minute},
	}
	e := newEnvFsync(t, false) // shared: each case captures its own mailbox
	for i, tc := range tests {
		name := fmt.Sprintf("m%d", i)
		t.Run(tc.name, func(t *testing.T) {
			fake := gmailtest.New(gmailtest.Options{})
			defer fake.Close()
			src, _ := newSource(t, e, fake, func(o *Options) {
				o.Name, o.PubSubTopic, o.PollInterval, o.WatchPollInterval = name, testTopic, tc.poll, tc.relaxed
			})
			c := useClock(src)
			poll := src.opts.PollInterval
			src.Notify() // a push before our watch proves nothing
			if got := src.pollInterval(); got != poll {
				t.Fatalf("before the watch: %v, want %v", got, poll)
			}
			if err := step(t, src); err != nil {
				t.Fatal(err)
			}
			if got := src.pollInterval(); got != poll {
				t.Fatalf("watch without a push yet: %v, want %v", got, poll)
			}
			src.Notify()
			if got := src.pollInterval(); got != tc.want {
				t.Fatalf("after a push: %v, want %v", got, tc.want)
			}
			c.advance(8 * 24 * time.Hour) // expired (renewals did not run)
			if got := src.pollInterval(); got != poll {
				t.Fatalf("expired watch: %v, want %v", got, poll)
			}
		})
	}
}
