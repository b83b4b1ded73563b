package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/crm"
	"github.com/sidedesk/sidedesk/store"
	"github.com/sidedesk/sidedesk/store/storetest"
)

func TestGenerateBench(t *testing.T) {
	l, _ := storetest.OpenCRM(t)
	ctx := context.Background()
	// Another tenant's records first: the generator must not collide with their ids.
	if err := store.SeedDemoCRM(ctx, l, "default"); err != nil {
		t.Fatal(err)
	}
	const accounts, contacts = 50, 500
	if err := store.GenerateCRMBench(ctx, l, "bench", accounts, contacts, 7); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 123, 499} {
		email := store.BenchEmail(n, accounts)
		m, err := l.Match(ctx, "bench", email)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Contacts) != 1 || m.Contacts[0].Email != email || len(m.Accounts) != 1 {
			t.Fatalf("Match(%s) = %+v", email, m)
		}
		if a := m.Accounts[0]; !slices.Equal(a.Domains, []string{store.BenchDomain(n % accounts)}) || a.Tier == "" || a.Owner == "" {
			t.Errorf("account of %s = %+v", email, a)
		}
	}
	// An unknown sender at a bench account; every second account has an open opportunity.
	withOpp := 0
	for m := range 10 {
		match, err := l.Match(ctx, "bench", "new.person@"+store.BenchDomain(m))
		if err != nil {
			t.Fatal(err)
		}
		if len(match.Accounts) != 1 || len(match.Contacts) != 0 {
			t.Fatalf("unknown at account %d: %+v", m, match)
		}
		if len(match.Opportunities) == 1 && !match.Opportunities[0].CloseDate.IsZero() && !match.Opportunities[0].Closed {
			withOpp++
		}
	}
	if withOpp != 5 {
		t.Errorf("%d of 10 accounts have an open opportunity, want 5", withOpp)
	}
	// The demo tenant is untouched, and the counts are exact.
	if m, _ := l.Match(ctx, "default", "anna.schmidt@globex.example"); len(m.Contacts) != 2 {
		t.Errorf("demo tenant changed: %+v", m.Contacts)
	}
	counts, err := l.TableCounts(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	nc, ne := counts["crm_contacts"], counts["crm_contact_emails"]
	if nc != contacts || ne != contacts {
		t.Errorf("%d contacts, %d emails; want %d", nc, ne, contacts)
	}
	// Again: nothing to do. Another size: refused.
	if err := store.GenerateCRMBench(ctx, l, "bench", accounts, contacts, 7); err != nil {
		t.Errorf("second run: %v", err)
	}
	if err := store.GenerateCRMBench(ctx, l, "bench", accounts, contacts*2, 7); err == nil || !strings.Contains(err.Error(), "already has") {
		t.Errorf("different size: error %v", err)
	}
}

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchLocal is a store with a generated CRM, made once per benchmark
// (b.N runs reuse it).
func benchLocal(b *testing.B, accounts, contacts int) *store.LocalCRM {
	b.Helper()
	l, _ := storetest.OpenCRM(b)
	start := time.Now()
	if err := store.GenerateCRMBench(context.Background(), l, "default", accounts, contacts, 1); err != nil {
		b.Fatal(err)
	}
	b.Logf("GenerateCRMBench(%d accounts, %d contacts): %v", accounts, contacts, time.Since(start).Round(time.Millisecond))
	return l
}

func benchMatch(b *testing.B, l *store.LocalCRM, accounts, contacts int) {
	// A request's context can be cancelled, like an HTTP handler's (the
	// driver then watches it during every query).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, kind := range []string{"contact", "unknown-at-account", "free-mail"} {
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			var seed atomic.Uint64
			cpu0 := cpuTime(b)
			defer func() {
				// CPU time per Match: unlike ns/op, not inflated when other
				// processes share the machine.
				b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			}()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(seed.Add(1), 2))
				for pb.Next() {
					n := rng.IntN(contacts)
					email := store.BenchEmail(n, accounts)
					switch kind {
					case "unknown-at-account":
						email = "someone.new@" + store.BenchDomain(n%accounts)
					case "free-mail":
						email = "someone@gmail.com"
					}
					m, err := l.Match(ctx, "default", email)
					if err != nil {
						b.Error(err)
						return
					}
					if len(m.Accounts) == 0 && kind != "free-mail" {
						b.Errorf("no account for %s", email)
						return
					}
				}
			})
		})
	}
}

// BenchmarkMatch: 100,000 contacts at 20,000 accounts (ns/op is one Match,
// run from GOMAXPROCS goroutines).
func BenchmarkMatch(b *testing.B) {
	const accounts, contacts = 20_000, 100_000
	l := benchLocal(b, accounts, contacts)
	benchMatch(b, l, accounts, contacts)
}

// BenchmarkMatchFull is the size, 1,000,000 contacts at 200,000
// accounts; it also logs how long GenerateCRMBench takes. Opt in with
// SIDEDESK_BENCH_FULL=1 (minutes, and about 1 GB of disk).
func BenchmarkMatchFull(b *testing.B) {
	if os.Getenv("SIDEDESK_BENCH_FULL") == "" {
		b.Skip("set SIDEDESK_BENCH_FULL=1 to generate 1,000,000 contacts")
	}
	const accounts, contacts = 200_000, 1_000_000
	l := benchLocal(b, accounts, contacts)
	benchMatch(b, l, accounts, contacts)
}

// BenchmarkImportContacts imports 10,000 contact rows (with accounts by
// Salesforce id) per op into a new tenant: rows/s is the import's speed.
func BenchmarkImportContacts(b *testing.B) {
	l, _ := storetest.OpenCRM(b)
	ctx := context.Background()
	const rows, accounts = 10_000, 100
	var in strings.Builder
	in.WriteString("Id,First Name,Last Name,Email,Phone,Title,Account ID\n")
	for i := range rows {
		fmt.Fprintf(&in, "003%d,Anna,Schmidt %d,contact%d@acct%d.example,+49 30 %d,Engineer,001%d\n", i, i, i, i%accounts, i, i%accounts)
	}
	csvText := in.String()
	tenant := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		tenant++
		t := fmt.Sprint("bench", tenant)
		var accts []crm.Account
		for a := range accounts {
			accts = append(accts, crm.Account{Meta: crm.Meta{Source: "csv", ExternalID: fmt.Sprint("001", a)}, Name: fmt.Sprint("Acct ", a)})
		}
		if _, err := l.UpsertAccounts(ctx, t, accts); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := crm.Import(ctx, l, t, crm.ObjContact, strings.NewReader(csvText), crm.ImportOptions{})
		if err != nil || rep.Inserted != rows {
			b.Fatalf("%+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
