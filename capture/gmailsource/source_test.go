package gmailsource

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sidedesk/sidedesk/capture"
	"github.com/sidedesk/sidedesk/capture/gmailsource/gmailtest"
	"github.com/sidedesk/sidedesk/ticket"
)

func TestFirstSyncThenHistory(t *testing.T) {
	e := newEnv(t)
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	mails := corpus(t)
	for _, m := range mails[:len(mails)-2] {
		fake.AddMessage("me", m)
	}
	fake.AddMessage("me", []byte("From: me@acme.example\r\nSubject: sent\r\n\r\nx\r\n"), "SENT")
	src, _ := newSource(t, e, fake, nil)

	st := mustOnce(t, src)
	if !st.FullSync || st.New != len(mails)-2 || st.Fetched != len(mails)-2 || st.Duplicates != 0 {
		t.Fatalf("first pass: %+v, want full sync of %d new", st, len(mails)-2)
	}
	if got := historyState(t, e).HistoryID; got != fake.HistoryID("me") {
		t.Fatalf("state history id %d, want %d", got, fake.HistoryID("me"))
	}

	// New mail arrives: one history read, one get per message.
	fake.AddMessage("me", mails[len(mails)-2])
	fake.AddMessage("me", []byte("From: me@acme.example\r\nSubject: draft\r\n\r\nx\r\n"), "DRAFT")
	fake.AddMessage("me", mails[len(mails)-1])
	fake.ResetRequests()
	st = mustOnce(t, src)
	if st.FullSync || st.New != 2 || st.Candidates != 2 {
		t.Fatalf("second pass: %+v, want 2 new from history", st)
	}
	if r := fake.Requests(); r["history.list"] != 1 || r["messages.get"] != 2 || fake.TotalRequests() != 3 {
		t.Fatalf("second pass requests %v, want 1 history.list + 2 messages.get", r)
	}
	if st.Requests != 3 {
		t.Fatalf("Stats.Requests %d, want 3", st.Requests)
	}

	// Nothing new: one request, no state write needed.
	fake.ResetRequests()
	st = mustOnce(t, src)
	if st.New != 0 || fake.TotalRequests() != 1 {
		t.Fatalf("idle pass: %+v, %v requests", st, fake.Requests())
	}
	if n := countMessages(t, e); n != len(mails) {
		t.Fatalf("%d messages stored, want %d", n, len(mails))
	}
	snap := e.status.Snapshot()
	if len(snap) != 1 || !snap[0].Connected || snap[0].Captured != int64(len(mails)) || snap[0].Kind != "gmail" {
		t.Fatalf("status %+v", snap)
	}
}

// The same mail makes the same tickets through the Gmail API as through a
// direct capture.Deliver in delivery order (which is what IMAP does).
func TestSameTicketsAsDirectDelivery(t *testing.T) {
	mails := corpus(t)
	direct := newEnv(t)
	ctx := context.Background()
	for i, m := range mails {
		d := capture.Delivery{Tenant: ticket.DefaultTenant, Mailbox: "support", SourceKey: fmt.Sprintf("imap:1:%d", i+1)}
		if _, err := direct.pipeline.Deliver(ctx, d, strings.NewReader(string(m))); err != nil {
			t.Fatal(err)
		}
	}
	viaGmail := newEnv(t)
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	// Half first (full sync), the rest through history, as it would arrive.
	half := len(mails) / 2
	for _, m := range mails[:half] {
		fake.AddMessage("me", m)
	}
	src, _ := newSource(t, viaGmail, fake, func(o *Options) { o.Concurrency = 8 })
	mustOnce(t, src)
	for _, m := range mails[half:] {
		fake.AddMessage("me", m)
	}
	mustOnce(t, src)

	want, got := grouping(t, direct), grouping(t, viaGmail)
	if len(got) == 0 || !maps.Equal(got, want) {
		t.Fatalf("ticket grouping differs:\n gmail:  %v\n direct: %v", got, want)
	}
	if countMessages(t, direct) != countMessages(t, viaGmail) {
		t.Fatalf("message counts differ")
	}
}

func TestNoDuplicatesAcrossRestart(t *testing.T) {
	for _, known := range []bool{true, false} {
		t.Run(fmt.Sprintf("known=%v", known), func(t *testing.T) {
			e := newEnv(t)
			fake := gmailtest.New(gmailtest.Options{})
			defer fake.Close()
			mails := gmailtest.Corpus(12)
			for _, m := range mails[:8] {
				fake.AddMessage("me", m)
			}
			noKnown := func(o *Options) {
				if !known {
					o.Known = nil
				}
			}
			src, _ := newSource(t, e, fake, noKnown)
			mustOnce(t, src)
			for _, m := range mails[8:] {
				fake.AddMessage("me", m)
			}
			// A new process: new Source, same store.
			src2, _ := newSource(t, e, fake, noKnown)
			st := mustOnce(t, src2)
			if st.FullSync || st.New != 4 || st.Duplicates != 0 {
				t.Fatalf("after restart: %+v, want 4 new from history", st)
			}
			if n := countMessages(t, e); n != 12 {
				t.Fatalf("%d messages, want 12", n)
			}
		})
	}
}

func TestExpiredHistoryFallsBackToFullSync(t *testing.T) {
	tests := []struct {
		name                   string
		known                  bool
		wantSkipped, wantDupes int
	}{
		{"with Known: old ids skipped, not fetched", true, 6, 0},
		{"without Known: re-fetched, deduplicated", false, 0, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			fake := gmailtest.New(gmailtest.Options{})
			defer fake.Close()
			mails := gmailtest.Corpus(9)
			for _, m := range mails[:6] {
				fake.AddMessage("me", m)
			}
			src, _ := newSource(t, e, fake, func(o *Options) {
				if !tc.known {
					o.Known = nil
				}
			})
			mustOnce(t, src)
			for _, m := range mails[6:] {
				fake.AddMessage("me", m)
			}
			fake.ExpireHistory("me")
			st := mustOnce(t, src)
			if !st.FullSync || st.New != 3 || st.Skipped != tc.wantSkipped || st.Duplicates != tc.wantDupes {
				t.Fatalf("got %+v, want full sync, 3 new, %d skipped, %d duplicates", st, tc.wantSkipped, tc.wantDupes)
			}
			if n := countMessages(t, e); n != 9 {
				t.Fatalf("%d messages, want 9", n)
			}
			if got := historyState(t, e).HistoryID; got != fake.HistoryID("me") {
				t.Fatalf("state %d, want %d", got, fake.HistoryID("me"))
			}
			// Back to cheap history reads.
			fake.ResetRequests()
			if st := mustOnce(t, src); st.FullSync || fake.TotalRequests() != 1 {
				t.Fatalf("after recovery: %+v, %v", st, fake.Requests())
			}
		})
	}
}

func TestQuotaErrorsAreRetried(t *testing.T) {
	tests := []struct {
		name      string
		fault     gmailtest.Fault
		firstSync bool
		minWait   time.Duration
	}{
		{"429 on get with Retry-After", gmailtest.Fault{Op: "messages.get", Status: 429, RetryAfter: "0", Times: 3}, false, 0},
		{"429 Retry-After honoured (capped at RetryMax)", gmailtest.Fault{Op: "history.list", Status: 429, RetryAfter: "30"}, false, 50 * time.Millisecond},
		{"403 userRateLimitExceeded", gmailtest.Fault{Op: "messages.get", Status: 403, Reason: "userRateLimitExceeded", Times: 2}, false, 0},
		{"403 rateLimitExceeded on list", gmailtest.Fault{Op: "messages.list", Status: 403, Reason: "rateLimitExceeded"}, true, 0},
		{"500 on profile", gmailtest.Fault{Op: "profile", Status: 500, Times: 2}, true, 0},
		{"503 on history", gmailtest.Fault{Op: "history.list", Status: 503}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			fake := gmailtest.New(gmailtest.Options{})
			defer fake.Close()
			mails := gmailtest.Corpus(4)
			src, sl := newSource(t, e, fake, nil)
			if !tc.firstSync {
				mustOnce(t, src) // empty mailbox: state recorded
			}
			for _, m := range mails {
				fake.AddMessage("me", m)
			}
			fake.InjectFault(tc.fault)
			st := mustOnce(t, src)
			if st.New != 4 {
				t.Fatalf("got %+v, want 4 new", st)
			}
			w := sl.waits()
			if len(w) == 0 {
				t.Fatalf("no backoff happened")
			}
			if w[0] < tc.minWait {
				t.Fatalf("first wait %v, want >= %v (Retry-After)", w[0], tc.minWait)
			}
		})
	}
}

func TestPermanentErrorNeverAdvancesState(t *testing.T) {
	e := newEnv(t)
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	metrics := capture.NewMetrics(nil)
	src, sl := newSource(t, e, fake, func(o *Options) { o.Concurrency = 3; o.Metrics = metrics })
	mustOnce(t, src)
	before := historyState(t, e)
	mails := gmailtest.Corpus(10)
	var ids []string
	for _, m := range mails {
		ids = append(ids, fake.AddMessage("me", m))
	}
	// The 6th message keeps failing: 5xx on every attempt (MaxRetries 8).
	fake.InjectFault(gmailtest.Fault{Op: "messages.get", ID: ids[5], Status: 500, Times: 9})
	st, err := src.Once(context.Background())
	if err == nil {
		t.Fatal("Once succeeded through a failing message")
	}
	if st.New != 5 {
		t.Fatalf("committed %d before the failure, want 5 (in order)", st.New)
	}
	if got := historyState(t, e); got != before {
		t.Fatalf("state advanced to %+v past an unfetched message (was %+v)", got, before)
	}
	if snap := e.status.Snapshot(); len(snap) != 1 || snap[0].LastError == "" || !strings.Contains(snap[0].LastError, ids[5]) {
		t.Fatalf("status does not show the error: %+v", snap)
	}
	if n := testutil.ToFloat64(metrics.CaptureErrors.WithLabelValues("support")); n != 1 {
		t.Fatalf("capture errors metric %v, want 1", n)
	}
	// A 403 that is no rate limit is not retried.
	fake.InjectFault(gmailtest.Fault{Op: "messages.get", ID: ids[5], Status: 403, Reason: "forbidden"})
	waits := len(sl.waits())
	if _, err := src.Once(context.Background()); err == nil || len(sl.waits()) != waits {
		t.Fatalf("403 forbidden: err %v, %d retries; want a failure without retry", err, len(sl.waits())-waits)
	}
	if got := historyState(t, e); got != before {
		t.Fatalf("state advanced after 403")
	}

	// The API recovers: the rest is captured, nothing twice.
	st2 := mustOnce(t, src)
	if lag := testutil.ToFloat64(metrics.MailboxLag.WithLabelValues("support")); lag != 0 {
		t.Fatalf("lag %v after catching up, want 0", lag)
	}
	if n := countMessages(t, e); n != 10 {
		t.Fatalf("%d messages after recovery, want 10 (last pass %+v)", n, st2)
	}
	if got := historyState(t, e).HistoryID; got != fake.HistoryID("me") {
		t.Fatalf("state %d, want %d", got, fake.HistoryID("me"))
	}
}

func TestDeletedBeforeFetchIsSkipped(t *testing.T) {
	e := newEnv(t)
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	src, _ := newSource(t, e, fake, nil)
	mustOnce(t, src)
	mails := gmailtest.Corpus(3)
	id := fake.AddMessage("me", mails[0])
	fake.AddMessage("me", mails[1])
	fake.DeleteMessage("me", id)
	st := mustOnce(t, src)
	if st.Gone != 1 || st.New != 1 {
		t.Fatalf("got %+v, want 1 gone, 1 new", st)
	}
}

func TestLabelAfterCapture(t *testing.T) {
	e := newEnv(t)
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	mails := gmailtest.Corpus(5)
	var ids []string
	for _, m := range mails[:3] {
		ids = append(ids, fake.AddMessage("me", m))
	}
	src, _ := newSource(t, e, fake, func(o *Options) { o.LabelAfterCapture = "sidedesk/captured" })
	st := mustOnce(t, src)
	lid := fake.LabelID("me", "sidedesk/captured")
	if lid == "" || st.Labelled != 3 {
		t.Fatalf("label not created or messages not labelled: %+v", st)
	}
	for _, m := range mails[3:] {
		ids = append(ids, fake.AddMessage("me", m))
	}
	fake.ResetRequests()
	st = mustOnce(t, src)
	if r := fake.Requests(); r["labels.create"] != 0 || r["labels.list"] != 0 || r["messages.batchModify"] != 1 || st.New != 2 {
		t.Fatalf("second pass %+v, requests %v: want one batchModify and no label look-up", st, r)
	}
	for _, id := range ids {
		labels := fake.Labels("me", id)
		if !slicesContains(labels, lid) || !slicesContains(labels, "INBOX") {
			t.Fatalf("message %s labels %v: want %s added and INBOX kept", id, labels, lid)
		}
	}
	// Our own label changes are history too; they capture nothing again.
	if st := mustOnce(t, src); st.New != 0 || st.Fetched != 0 {
		t.Fatalf("label history re-fetched: %+v", st)
	}

	// A new Source finds the existing label instead of creating another.
	src2, _ := newSource(t, e, fake, func(o *Options) { o.LabelAfterCapture = "Sidedesk/Captured" })
	fake.AddMessage("me", gmailtest.Corpus(6)[5])
	fake.ResetRequests()
	mustOnce(t, src2)
	if r := fake.Requests(); r["labels.create"] != 0 || r["labels.list"] != 1 {
		t.Fatalf("restart: requests %v", r)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestQueries(t *testing.T) {
	t.Run("label query sees messages labelled later", func(t *testing.T) {
		e := newEnv(t)
		fake := gmailtest.New(gmailtest.Options{})
		defer fake.Close()
		mails := gmailtest.Corpus(4)
		src, _ := newSource(t, e, fake, func(o *Options) { o.Query = "label:support-queue" })
		if _, err := src.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		a := fake.AddMessage("me", mails[0])
		fake.AddMessage("me", mails[1]) // never labelled
		mustOnce(t, src)                // label does not exist yet: nothing matches
		// A filter creates the label and applies it.
		req, _ := http.NewRequest("POST", fake.URL()+"gmail/v1/users/me/labels", strings.NewReader(`{"name":"Support/Queue"}`))
		resp, err := fake.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		lid := fake.LabelID("me", "Support/Queue")
		fake.AddLabels("me", a, lid)
		c := fake.AddMessage("me", mails[2], "INBOX", lid)
		src.mu.Lock()
		src.labelsAt = time.Time{} // the once-a-minute refresh of a missing label is due
		src.mu.Unlock()
		st := mustOnce(t, src)
		if st.New != 2 || countMessages(t, e) != 2 {
			t.Fatalf("got %+v, want the 2 labelled messages (%s, %s)", st, a, c)
		}
	})
	t.Run("general query is re-checked by Gmail", func(t *testing.T) {
		e := newEnv(t)
		fake := gmailtest.New(gmailtest.Options{Start: time.Now().Add(-time.Minute)})
		defer fake.Close()
		raw := func(from string) []byte {
			return []byte("From: " + from + "\r\nTo: support@acme.example\r\nSubject: hi " + from +
				"\r\nMessage-ID: <" + from + ">\r\n\r\nbody\r\n")
		}
		fake.AddMessage("me", raw("old@globex.example"))
		fake.AddMessage("me", raw("x@initech.example"))
		src, _ := newSource(t, e, fake, func(o *Options) {
			o.Query = "in:inbox from:globex.example"
			o.LabelAfterCapture = "sidedesk/captured"
		})
		if st := mustOnce(t, src); st.New != 1 {
			t.Fatalf("full sync: %+v, want 1", st)
		}
		fake.AddMessage("me", raw("new@globex.example"))
		fake.AddMessage("me", raw("y@initech.example"))
		fake.ResetRequests()
		st := mustOnce(t, src)
		if st.New != 1 || fake.Requests()["messages.list"] != 1 || fake.Requests()["messages.get"] != 1 || st.Labelled != 1 {
			t.Fatalf("incremental: %+v, requests %v; want 1 new via one re-check list", st, fake.Requests())
		}
		// Labelling what was captured is history too, but no reason to
		// list again: the next idle poll is one request.
		fake.ResetRequests()
		if st := mustOnce(t, src); st.Candidates != 0 || fake.TotalRequests() != 1 {
			t.Fatalf("after labelling: %+v, requests %v", st, fake.Requests())
		}
	})
}

func TestParseLabelQuery(t *testing.T) {
	tests := []struct {
		q       string
		names   []string
		general bool
	}{
		{"in:inbox", []string{"inbox"}, false},
		{"label:support in:inbox is:unread", []string{"support", "inbox", "unread"}, false},
		{"in:inbox newer_than:2d", nil, true},
		{"from:x@y.example", nil, true},
		{"in:anywhere", nil, true},
		{"(in:inbox)", nil, true},
		{"support", nil, true},
	}
	for _, tc := range tests {
		got := parseLabelQuery(tc.q)
		if got.general != tc.general || (!tc.general && fmt.Sprint(got.names) != fmt.Sprint(tc.names)) {
			t.Errorf("parseLabelQuery(%q) = %+v, want names %v general %v", tc.q, got, tc.names, tc.general)
		}
	}
}

func TestLeaseHeldElsewhere(t *testing.T) {
	e := newEnv(t)
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	fake.AddMessage("me", gmailtest.Corpus(1)[0])
	ok, err := e.st.AcquireLease(context.Background(), "gmail:default:support", "other-process", time.Minute)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	src, _ := newSource(t, e, fake, func(o *Options) { o.Lease = e.st })
	if _, err := src.Once(context.Background()); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("Once = %v, want ErrLeaseHeld", err)
	}
	if fake.TotalRequests() != 0 || countMessages(t, e) != 0 {
		t.Fatal("captured without the lease")
	}
	if err := e.st.ReleaseLease(context.Background(), "gmail:default:support", "other-process"); err != nil {
		t.Fatal(err)
	}
	if st := mustOnce(t, src); st.New != 1 {
		t.Fatalf("with the lease: %+v", st)
	}
	// Once released it: another holder can take it at once.
	if ok, err := e.st.AcquireLease(context.Background(), "gmail:default:support", "other-process", time.Minute); err != nil || !ok {
		t.Fatalf("lease not released: %v %v", ok, err)
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t)
	good := Options{Name: "support", HTTPClient: http.DefaultClient, State: e.st, Pipeline: e.pipeline}
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"no name", func(o *Options) { o.Name = "" }, "Name"},
		{"no client", func(o *Options) { o.HTTPClient = nil }, "HTTPClient"},
		{"no state", func(o *Options) { o.State = nil }, "State"},
		{"no pipeline", func(o *Options) { o.Pipeline = nil }, "Pipeline"},
		{"concurrency", func(o *Options) { o.Concurrency = 100 }, "Concurrency"},
	}
	for _, tc := range tests {
		o := good
		tc.mutate(&o)
		if _, err := New(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	if _, err := New(context.Background(), good); err != nil {
		t.Fatal(err)
	}
}
