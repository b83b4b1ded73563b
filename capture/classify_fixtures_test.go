package capture

import (
	"path/filepath"
	"sort"
	"testing"

	"github.com/sidedesk/sidedesk/ticket"
)

// machineMail is the class of every fixture that is not a customer's
// mail; the rest must classify normal.
var machineMail = map[string]ticket.Classification{
	"arf-feedback.eml":                      ticket.ClassFeedback,
	"bounce-exchange-ndr.eml":               ticket.ClassBounce,
	"bounce-postfix.eml":                    ticket.ClassBounce,
	"bounce-qmail-mixed-dsn.eml":            ticket.ClassBounce,
	"bounce-report-no-type.eml":             ticket.ClassBounce,
	"bounce-cr-only-gateway.eml":            ticket.ClassBounce,
	"bounce-filter-iso2022jp.eml":           ticket.ClassBounce,
	"bounce-report-trailing-semicolons.eml": ticket.ClassBounce,
	"bounce-domino.eml":                     ticket.ClassBounce,
	"bounce-gmail-dsn.eml":                  ticket.ClassBounce,
	"exchange-oof.eml":                      ticket.ClassAutoReply,
	"ooo-autoreply.eml":                     ticket.ClassAutoReply,
	"list-mail.eml":                         ticket.ClassList,
}

// TestClassifyFixtures parses every fixture and classifies it as the
// ticket service does, end to end: the figure in the log is the share of
// the real-world-shaped set classified right (each must be).
func TestClassifyFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	sort.Strings(files)
	seen := map[string]bool{}
	right, machine := 0, 0
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		want, ok := machineMail[name]
		if !ok {
			want = ticket.ClassNormal
		} else {
			machine++
		}
		in, _ := parseFile(t, name)
		if got := ticket.Classify(in); got != want {
			t.Errorf("%s: classified %s, want %s", name, got, want)
			continue
		}
		right++
	}
	for name := range machineMail {
		if !seen[name] {
			t.Errorf("machineMail names %s, which is not in testdata", name)
		}
	}
	t.Logf("classified right: %d of %d fixtures (%d of them machine mail)", right, len(files), machine)
}
