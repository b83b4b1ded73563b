package crm

import (
	"context"
	"strings"
	"testing"
)

// FuzzImportCSV runs arbitrary bytes through the CSV side of Import
// (separator detection, header binding, value parsing, row accounting) with
// an upsert that keeps every record: it must never panic, and every row
// must be counted exactly once.
func FuzzImportCSV(f *testing.F) {
	for _, seed := range []string{
		"Account ID,Account Name,Annual Revenue\n1,Globex,\"1,200\"\n",
		"\ufeffId;Opportunity Name;Amount;Close Date\r\n1;\"a;b\";1.234,5;31.03.2026\r\n",
		"Email,First Name\nnot-an-address,x\n\"broken \"quote\",y\n,,\n",
		"Name\tWebsite\nA\thttps://a.example\n",
		"Id,Name\n1,\"multi\nline\"\n2,x,extra\n",
		"",
		"\"",
	} {
		f.Add(seed, 0)
	}
	f.Fuzz(func(t *testing.T, in string, object int) {
		ctx := context.Background()
		var kept int
		opts := ImportOptions{Progress: func(done, total int) {
			if done < 0 || total < 0 {
				t.Fatalf("progress %d/%d", done, total)
			}
		}}
		var rep *ImportReport
		var err error
		switch object % 4 {
		case 0:
			rep, err = importCSV(ctx, keep[Account](&kept), "t", ObjAccount, accountFields, func(a *Account, s string) { a.Source = s }, strings.NewReader(in), opts)
		case 1:
			rep, err = importCSV(ctx, keep[Contact](&kept), "t", ObjContact, contactFields, func(c *Contact, s string) { c.Source = s }, strings.NewReader(in), opts)
		case 2:
			rep, err = importCSV(ctx, keep[Lead](&kept), "t", ObjLead, leadFields, func(l *Lead, s string) { l.Source = s }, strings.NewReader(in), opts)
		default:
			rep, err = importCSV(ctx, keep[Opportunity](&kept), "t", ObjOpportunity, opportunityFields, func(o *Opportunity, s string) { o.Source = s }, strings.NewReader(in), opts)
		}
		if err != nil {
			return
		}
		if rep.Inserted != kept || rep.Inserted+rep.Updated+rep.Failed+rep.Skipped != rep.Rows {
			t.Fatalf("rows %d = %d inserted + %d updated + %d failed + %d skipped (kept %d)", rep.Rows,
				rep.Inserted, rep.Updated, rep.Failed, rep.Skipped, kept)
		}
		for i, e := range rep.Errors {
			if e.Row < 2 || (i > 0 && e.Row < rep.Errors[i-1].Row) || e.Reason == "" {
				t.Fatalf("error %d: %+v", i, e)
			}
		}
	})
}

// keep is an upsert that stores nothing and counts every record inserted.
func keep[T any](n *int) func(context.Context, string, []T) (UpsertResult, error) {
	return func(_ context.Context, _ string, recs []T) (UpsertResult, error) {
		*n += len(recs)
		return UpsertResult{Inserted: len(recs)}, nil
	}
}
