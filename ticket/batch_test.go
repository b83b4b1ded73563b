package ticket

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// batchCorpus is a mailbox's worth of scenario mails in delivery order,
// with threading that crosses any batch boundary: replies (In-Reply-To,
// rewritten References, Thread-Index, subject tag from a participant and
// from a stranger, reply-address token), a bounce and an out-of-office of
// earlier mails, list mail, the same mail twice (another mailbox, and the
// same source key again), and a sender flooding past the limit.
func batchCorpus() []Inbound {
	tok := func(n int64) mailOpt {
		return func(in *Inbound) {
			in.To = append(in.To, Address{Email: ReplyAddress(testSecret, DefaultTenant, n, "support@example.com")})
		}
	}
	ms := []Inbound{
		newMail("a@mail.gmail.com", "alice@example.org", "Printer broken"),
		newMail("b@mail.gmail.com", "Alice@Example.org", "Re: Printer broken", inReplyTo("a@mail.gmail.com"), references("a@mail.gmail.com")),
		newMail("o1@outlook.com", "bob@corp.example", "VPN down", func(in *Inbound) { in.ConversationID = "AdLkF3A=" }),
		newMail("o2@outlook.com", "bob@corp.example", "AW: VPN down", func(in *Inbound) { in.ConversationID = "AdLkF3A=" }),
		newMail("c@icloud.com", "alice@example.org", "Re: Printer broken", references("x@elsewhere", "b@mail.gmail.com")),
		newMail("t1@x", "alice@example.org", "Re: [#1] Printer broken"),
		newMail("t2@x", "mallory@evil.example", "Re: [#1] Printer broken"),
		newMail("r1@x", "carol@example.net", "Question", tok(2)),
		newMail("bounce1@mx", "MAILER-DAEMON@mx.example.com", "Undelivered Mail Returned to Sender",
			func(in *Inbound) { in.DeliveryReport, in.ReturnedMessageID = true, "<o1@outlook.com>" }),
		newMail("bounce2@mx", "mailer-daemon@mx.example.com", "Delivery Status Notification (Failure)",
			func(in *Inbound) { in.DeliveryReport, in.ReturnedMessageID = true, "<never@seen>" }),
		newMail("ooo@x", "bob@corp.example", "Automatic reply: VPN down",
			inReplyTo("o2@outlook.com"), header("Auto-Submitted", "auto-replied"), header("Return-Path", "<>")),
		newMail("list@x", "news@lists.example.com", "Weekly digest", header("List-Id", "<news.lists.example.com>")),
		newMail("a@mail.gmail.com", "alice@example.org", "Printer broken", withSource("sales", "imap:7:1")),
		newMail("b@mail.gmail.com", "Alice@Example.org", "Re: Printer broken", inReplyTo("a@mail.gmail.com")),
		// Parents after their replies (14 → 15 across batches of 5, 16 → 17
		// within one): the parent joins the reply's ticket.
		newMail("late-r1@x", "dave@example.com", "Re: Invoice", inReplyTo("late-root1@x")),
		newMail("late-root1@x", "dave@example.com", "Invoice"),
		newMail("late-r2@x", "erin@example.com", "Re: Contract", inReplyTo("late-root2@x"), references("late-root2@x")),
		newMail("late-root2@x", "erin@example.com", "Contract"),
	}
	for i := range 24 {
		ms = append(ms, newMail(fmt.Sprintf("flood%d@x", i), "bot@example.com", fmt.Sprintf("Alert %d", i)))
	}
	return ms
}

// batchRun is what one way of ingesting the corpus produced.
type batchRun struct {
	results []Result
	errs    []error
	events  []Event
}

// RunIngestBatchScenarios checks IngestBatch against sequential Ingest on
// stores from open: the same results and outbox events whether the corpus
// goes in one message at a time, as one batch, or in batches of 5 (so
// threads cross batch boundaries); and a batch with a message the store
// refuses ingests all the others and names that one.
func RunIngestBatchScenarios(t *testing.T, open OpenStore) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	corpus := batchCorpus()
	ingest := func(t *testing.T, bad string, chunk int, precompute bool) batchRun {
		t.Helper()
		inner, events := open(t)
		st := failingStore{inner, bad}
		svc, err := NewService(Options{Store: st, Now: func() time.Time { return now }, ReplySecret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		run := batchRun{results: make([]Result, len(corpus)), errs: make([]error, len(corpus))}
		for start := 0; start < len(corpus); start += max(chunk, 1) {
			if chunk == 0 {
				run.results[start], run.errs[start] = svc.Ingest(ctx, corpus[start])
				continue
			}
			end := min(start+chunk, len(corpus))
			ins := slices.Clone(corpus[start:end])
			var res []Result
			var err error
			if precompute { // as a capture's preparing goroutines do
				ps := make([]*Pending, len(ins))
				for i := range ins {
					ps[i] = svc.Prepare(ctx, ins[i])
				}
				res, err = svc.Commit(ctx, ps)
			} else {
				res, err = svc.IngestBatch(ctx, ins)
			}
			if len(res) != end-start {
				t.Fatalf("IngestBatch returned %d results for %d messages", len(res), end-start)
			}
			copy(run.results[start:], res)
			var be *BatchError
			if err != nil && !errors.As(err, &be) {
				t.Fatalf("IngestBatch error %T %v, want a *BatchError", err, err)
			}
			for i := start; i < end; i++ {
				if be != nil {
					run.errs[i] = be.Failed(i - start)
				}
			}
		}
		run.events = events()
		for i := range run.events {
			run.events[i].ID = 0 // numbering aside, the same events
		}
		return run
	}
	want := ingest(t, "", 0, false)
	for i, err := range want.errs {
		if err != nil {
			t.Fatalf("sequential Ingest of mail %d: %v", i, err)
		}
	}
	// The corpus exercises what it claims to.
	var news, dups, held int
	for _, r := range want.results {
		news += b2i(r.NewTicket)
		dups += b2i(r.Duplicate)
		held += b2i(r.Held)
	}
	if news < 5 || dups != 2 || held < 4 || want.results[1].TicketID != want.results[0].TicketID ||
		want.results[8].Classification != ClassBounce || want.results[8].TicketID != want.results[2].TicketID ||
		want.results[15].TicketID != want.results[14].TicketID || want.results[17].TicketID != want.results[16].TicketID {
		t.Fatalf("corpus does not cover threading, duplicates, holds: %+v", want.results)
	}

	for _, chunk := range []int{len(corpus), 5, 1} {
		t.Run(fmt.Sprintf("batches of %d", chunk), func(t *testing.T) {
			got := ingest(t, "", chunk, false)
			compareRuns(t, got, want, -1)
		})
		t.Run(fmt.Sprintf("batches of %d, precomputed", chunk), func(t *testing.T) {
			got := ingest(t, "", chunk, true)
			compareRuns(t, got, want, -1)
		})
	}

	t.Run("a failing message", func(t *testing.T) {
		const bad = 3 // the Thread-Index reply: the ooo later threads on its ticket
		failWant := ingest(t, corpus[bad].MessageID, 0, false)
		if !errors.Is(failWant.errs[bad], errInjectedInsert) {
			t.Fatalf("sequential: mail %d error %v, want the injected one", bad, failWant.errs[bad])
		}
		for _, chunk := range []int{len(corpus), 5} {
			got := ingest(t, corpus[bad].MessageID, chunk, chunk == 5)
			compareRuns(t, got, failWant, bad)
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func compareRuns(t *testing.T, got, want batchRun, bad int) {
	t.Helper()
	for i := range want.results {
		if i == bad {
			if !errors.Is(got.errs[i], errInjectedInsert) {
				t.Errorf("mail %d: error %v, want the injected one", i, got.errs[i])
			}
			continue
		}
		if got.errs[i] != nil {
			t.Errorf("mail %d: %v", i, got.errs[i])
		}
		if got.results[i] != want.results[i] {
			t.Errorf("mail %d: %+v, sequential Ingest gave %+v", i, got.results[i], want.results[i])
		}
	}
	if !reflect.DeepEqual(got.events, want.events) {
		t.Errorf("events differ from sequential Ingest:\n got %d: %+v\nwant %d: %+v", len(got.events), got.events, len(want.events), want.events)
	}
}

var errInjectedInsert = errors.New("injected insert failure")

// failingStore refuses to insert the message with one Message-ID.
type failingStore struct {
	Store
	bad string
}

type failingTx struct {
	Tx
	bad string
}

func (f failingStore) WithTx(ctx context.Context, fn func(Tx) error) error {
	return f.Store.WithTx(ctx, func(tx Tx) error { return fn(failingTx{tx, f.bad}) })
}

func (f failingTx) InsertMessage(ctx context.Context, m *Message) error {
	if f.bad != "" && m.MessageID == strings.Trim(f.bad, "<>") {
		return errInjectedInsert
	}
	return f.Tx.InsertMessage(ctx, m)
}

func TestIngestBatchMem(t *testing.T) {
	RunIngestBatchScenarios(t, func(t *testing.T) (Store, func() []Event) {
		st := newMemStore()
		return st, st.Events
	})
}

// TestPendingOfOtherService: what one Service prepared is not used by
// another (whose priority rules may differ).
func TestPendingOfOtherService(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	rules, err := NewPrioritizer(PriorityRules{Keywords: map[string]Priority{"printer": PriorityUrgent}})
	if err != nil {
		t.Fatal(err)
	}
	urgent, err := NewService(Options{Store: st, ReplySecret: testSecret, Priority: rules})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewService(Options{Store: st, ReplySecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	in := newMail("p@example.org", "alice@example.org", "Printer broken")
	res, err := plain.Commit(ctx, []*Pending{urgent.Prepare(ctx, in)})
	if err != nil {
		t.Fatal(err)
	}
	var tk Ticket
	if err := st.WithTx(ctx, func(tx Tx) (err error) { tk, err = tx.Ticket(ctx, DefaultTenant, res[0].TicketID); return err }); err != nil {
		t.Fatal(err)
	}
	if tk.Priority != PriorityNormal {
		t.Errorf("priority %s: another service's precomputation was used", tk.Priority)
	}
	in2 := newMail("q@example.org", "bob@example.org", "Printer broken")
	res, err = urgent.Commit(ctx, []*Pending{urgent.Prepare(ctx, in2)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WithTx(ctx, func(tx Tx) (err error) { tk, err = tx.Ticket(ctx, DefaultTenant, res[0].TicketID); return err }); err != nil {
		t.Fatal(err)
	}
	if tk.Priority != PriorityUrgent {
		t.Errorf("priority %s with its own precomputation, want urgent", tk.Priority)
	}
}

// TestAssigneeMustBeAgent: with Options.IsAgent, only the tenant's agents
// can be assigned (on update and on create); unassigning always works.
func TestAssigneeMustBeAgent(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	svc, err := NewService(Options{Store: st, ReplySecret: testSecret, IsAgent: func(_ context.Context, tenant, email string) (bool, error) {
		return tenant == DefaultTenant && email == "ana@acme.example", nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Ingest(ctx, newMail("m1@example.org", "cora@example.org", "Help"))
	if err != nil {
		t.Fatal(err)
	}
	ana, eve, none := "Ana@acme.example", "eve@evil.example", ""
	if tk, err := svc.Update(ctx, DefaultTenant, res.TicketID, Change{Assignee: &ana}); err != nil || tk.Assignee != "ana@acme.example" {
		t.Errorf("assign an agent: %+v %v", tk, err)
	}
	if _, err := svc.Update(ctx, DefaultTenant, res.TicketID, Change{Assignee: &eve}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not an agent") {
		t.Errorf("assign a stranger: %v, want refused", err)
	}
	if tk, err := svc.Update(ctx, DefaultTenant, res.TicketID, Change{Assignee: &none}); err != nil || tk.Assignee != "" {
		t.Errorf("unassign: %+v %v", tk, err)
	}
	if _, _, err := svc.Create(ctx, DefaultTenant, NewTicket{Requester: Address{Email: "p@example.org"}, Subject: "x", Assignee: eve}); !errors.Is(err, ErrInvalid) {
		t.Errorf("create assigned to a stranger: %v, want refused", err)
	}
}
