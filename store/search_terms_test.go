package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/sidedesk/sidedesk/ticket"
)

// TestSearchTermsMatchTheIndex: the words the store works out (searchWords)
// are exactly the words FTS5 itself makes of the texts, for real mail
// (every capture fixture, headers and base64 noise included) and for text
// in many scripts with diacritics. The search index is fed those words
// (migration 3300), so it must hold every word a search for the original
// text can ask for, in the same messages, and search_terms must list each
// of them, so that a prefix expands to every word it can match. The
// reference is an FTS5 table with the index's tokenizer fed the texts
// whole, as the index was before.
func TestSearchTermsMatchTheIndex(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	texts := []string{
		"Crème brûlée à la façon de Zoë; Ærøskøbing, Øresund, straße, STRASSE, İstanbul, ıi, Ångström",
		"Привет, мир! Ελληνικά ΣΊΣΥΦΟΣ; 日本語のテキスト 中文 한국어; عربى‎ עברית",
		"x² ½ ① ٣ Ⅻ 10,000.50 v1.2.3-beta+build.7 e-mail foo_bar foo-bar O'Brien",
		"ﬁne ﬀ ℌ ﬃ Ｆｕｌｌｗｉｄｔｈ \u00a0nbsp\u200bzero\u200dwidth a\u0301e\u0308 n\u0303",
		"word\U000F0001private",
		"a" + strings.Repeat("0123456789", 10) + " long words are indexed too",
		// Emoji are left out: SQLite's character tables and Go's differ
		// by Unicode version there, and no ASCII prefix expands to them.
	}
	files, _ := filepath.Glob(filepath.Join("..", "capture", "testdata", "*.eml"))
	if len(files) < 20 {
		t.Fatalf("only %d fixtures found", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, strings.ToValidUTF8(string(b), " "))
	}
	for i, text := range texts {
		mustInsertMessage(t, s, ticket.Message{Tenant: "default", Direction: ticket.DirectionInbound,
			MessageID: "terms-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), Subject: "Fixture " + text[:min(len(text), 40)],
			Text: text, From: ticket.Address{Email: "Sender.Name@Example.COM", Name: "Zoë O'Brien"}})
	}
	for _, q := range []string{
		`CREATE VIRTUAL TABLE reference_search USING fts5(subject, body, sender, content = '', detail = none,
            columnsize = 0, tokenize = 'unicode61 remove_diacritics 2')`,
		`CREATE VIRTUAL TABLE reference_vocab USING fts5vocab(reference_search, 'row')`,
		`INSERT INTO reference_search (rowid, subject, body, sender)
            SELECT id, subject, text_body, from_email || ' ' || from_name FROM messages`,
	} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	docs := func(table string) map[string]string {
		rows, err := s.queryStrings(ctx, `SELECT term || ' ' || doc FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, r := range rows {
			term, n, _ := strings.Cut(r, " ")
			if !strings.ContainsFunc(term, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }) {
				// SQLite's character tables and Go's differ by Unicode
				// version for a few marks and unassigned code points
				// (U+07B7); a word of only those is no word anyone types.
				continue
			}
			m[term] = n
		}
		return m
	}
	want, got := docs("reference_vocab"), docs("message_search_vocab")
	ours, err := s.queryStrings(ctx, `SELECT term FROM search_terms`)
	if err != nil {
		t.Fatal(err)
	}
	var missing, differ, extra, unlisted, overlong []string
	for w, n := range want {
		switch g, ok := got[w]; {
		case !ok:
			missing = append(missing, w)
		case g != n:
			differ = append(differ, fmt.Sprintf("%s in %s messages, want %s", w, g, n))
		}
		if len(w) <= maxTermBytes && !slices.Contains(ours, w) {
			unlisted = append(unlisted, w)
		}
	}
	for w := range got {
		if _, ok := want[w]; !ok {
			extra = append(extra, w)
		}
	}
	for _, o := range ours {
		if _, ok := want[o]; !ok || len(o) > maxTermBytes {
			overlong = append(overlong, o)
		}
	}
	if len(missing)+len(differ)+len(extra) > 0 {
		t.Errorf("the index differs from FTS5's own (%d words): missing %q, in other messages %q, extra %q", len(want), missing, differ, extra)
	}
	if len(unlisted)+len(overlong) > 0 {
		t.Errorf("search_terms differs from the index: missing %q, extra or too long %q", unlisted, overlong)
	}
	if len(want) < 500 {
		t.Errorf("only %d words indexed: the corpus did not reach the index", len(want))
	}
	if _, ok := got["a"+strings.Repeat("0123456789", 10)]; !ok {
		t.Error("a 101-byte word is not in the index")
	}
}

// TestPrefixSearchFindsNewWords: a word first seen in a message inserted
// after the index was built is found by its prefix (search_terms is kept
// as messages are inserted), and a rolled-back insert teaches the term
// cache nothing.
func TestPrefixSearchFindsNewWords(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tk := mustCreateTicket(t, s, ticket.Ticket{Tenant: "default", Subject: "Frobnicator jammed", Requester: ticket.Address{Email: "c@x.example"}})
	mustInsertMessage(t, s, ticket.Message{Tenant: "default", TicketID: tk.ID, Direction: ticket.DirectionInbound,
		MessageID: "w1@x", Subject: "Frobnicator jammed", Text: "The frobnicator is jammed."})
	got, err := s.SearchTickets(ctx, "default", "frobn*", "", 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("frobn*: %v %v", got, err)
	}
	// A transaction that fails after its insert leaves neither the word
	// nor a cached "known" behind.
	_ = s.WithTx(ctx, func(tx ticket.Tx) error {
		m := ticket.Message{Tenant: "default", TicketID: tk.ID, Direction: ticket.DirectionInbound, MessageID: "w2@x", Text: "quuxinator"}
		if err := tx.InsertMessage(ctx, &m); err != nil {
			return err
		}
		return context.Canceled
	})
	if s.terms.has("quuxinator") {
		t.Error("a rolled-back word is cached as known")
	}
	mustInsertMessage(t, s, ticket.Message{Tenant: "default", TicketID: tk.ID, Direction: ticket.DirectionInbound,
		MessageID: "w3@x", Text: "quuxinator again"})
	if got, err := s.SearchTickets(ctx, "default", "quux*", "", 10); err != nil || len(got) != 1 {
		t.Errorf("quux* after a rollback and a commit: %v %v", got, err)
	}
}

// BenchmarkIndexTerms: the words of a typical 5 KB support mail offered to
// search_terms when every word is already known (the steady state of a
// mailbox): the cost each message's transaction pays for prefix search.
// Working the words out (BenchmarkSearchWords) happens before it, where
// mail is parsed.
func BenchmarkIndexTerms(b *testing.B) {
	text := strings.Repeat(benchMailText, 40)
	s := newStore(b)
	ctx := context.Background()
	b.SetBytes(int64(len(text)))
	words := searchWords("Re: Orders API times out", text, "ann@globex.example", "Ann")
	err := s.WithTx(ctx, func(ttx ticket.Tx) error {
		t := ttx.(*tx)
		if err := t.indexTerms(ctx, words); err != nil { // learn them once
			return err
		}
		s.terms.add(t.newTerms)
		for b.Loop() {
			t.newTerms = t.newTerms[:0]
			if err := t.indexTerms(ctx, words); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

const benchMailText = "Hello support, since this morning our integration fails with a timeout when we call the orders API (case 4711). Grüße, Zoë\n"

// BenchmarkSearchWords: working out the distinct search words of a typical
// 5 KB support mail (ticket.WordIndexer, on the parsing goroutines).
func BenchmarkSearchWords(b *testing.B) {
	text := strings.Repeat(benchMailText, 40)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if len(searchWords("Re: Orders API times out", text, "ann@globex.example", "Ann")) == 0 {
			b.Fatal("no words")
		}
	}
}

// TestPreparedSearchWords: the Service works a mail's words out before
// its transaction (ticket.WordIndexer), and the store indexes those: a
// prefix finds the mail it ingested.
func TestPreparedSearchWords(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, ok := any(s).(ticket.WordIndexer); !ok {
		t.Fatal("*Store is not a ticket.WordIndexer: words are worked out inside every transaction")
	}
	svc, err := ticket.NewService(ticket.Options{Store: s, ReplySecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	in := ticket.Inbound{Tenant: ticket.DefaultTenant, Mailbox: "support", SourceKey: "k1", MessageID: "w1@globex.example",
		From: ticket.Address{Email: "zoe@globex.example", Name: "Zoë"}, Subject: "Palletiser stopped",
		Text: "Our Überladebrücke reports error 4711."}
	if _, err := svc.Ingest(ctx, in); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"pallet*", "uberlade*", "zo*"} {
		got, err := s.SearchTickets(ctx, ticket.DefaultTenant, q, "", 10)
		if err != nil || len(got) != 1 {
			t.Errorf("search %q: %d tickets, %v; want the one ingested", q, len(got), err)
		}
	}
	// Words handed in are the ones indexed (nothing is worked out again).
	err = s.WithTx(ctx, func(tx ticket.Tx) error {
		m := &ticket.Message{Tenant: ticket.DefaultTenant, Mailbox: "support", Direction: ticket.DirectionInbound,
			Subject: "other", SearchWords: []string{"zzprepared"}}
		return tx.InsertMessage(ctx, m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.queryStrings(ctx, `SELECT term FROM search_terms WHERE term = 'zzprepared'`); len(got) != 1 {
		t.Errorf("search_terms has %v for the words handed in, want zzprepared", got)
	}
}

// TestSearchIndexesEveryMessageOfATransaction: the index rows of a
// transaction are written when its work is done (tx.flushSearch); every
// message of a capture group is found afterwards, by word and by prefix,
// and a group that fails leaves none of its words behind.
func TestSearchIndexesEveryMessageOfATransaction(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	words := []string{"alphawidget", "betagizmo", "gammasprocket"}
	insert := func(fail bool) error {
		return s.WithTx(ctx, func(tx ticket.Tx) error {
			for i, w := range words {
				tk := ticket.Ticket{Tenant: "default", Subject: "group " + w, Requester: ticket.Address{Email: "c@x.example"}}
				if err := tx.CreateTicket(ctx, &tk); err != nil {
					return err
				}
				m := ticket.Message{Tenant: "default", TicketID: tk.ID, Direction: ticket.DirectionInbound,
					MessageID: fmt.Sprintf("group-%d-%v@x", i, fail), Text: "the " + w + " broke",
					To: []ticket.Address{{Email: "support@acme.example"}, {Email: "other@acme.example"}}}
				if err := tx.InsertMessage(ctx, &m); err != nil {
					return err
				}
			}
			if fail {
				return context.Canceled
			}
			return nil
		})
	}
	if err := insert(true); err == nil {
		t.Fatal("the failing group committed")
	}
	if n, err := s.queryStrings(ctx, `SELECT rowid FROM message_search WHERE message_search MATCH 'alphawidget'`); err != nil || len(n) != 0 {
		t.Fatalf("after a failed group the index has %v (%v), want nothing", n, err)
	}
	if err := insert(false); err != nil {
		t.Fatal(err)
	}
	for _, w := range words {
		for _, q := range []string{w, w[:5] + "*"} {
			got, err := s.SearchTickets(ctx, "default", q, "", 10)
			if err != nil || len(got) != 1 || got[0].Subject != "group "+w {
				t.Errorf("search %q: %v, %v; want the ticket of %q", q, got, err, w)
			}
		}
	}
}

// BenchmarkSearchWordsVaried: as BenchmarkSearchWords, on 7 KB of text
// drawn from a 4,000-word vocabulary (Zipf), so most words are distinct
// as in real mail, not the same sentence again.
func BenchmarkSearchWordsVaried(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, 3999)
	var sb strings.Builder
	for sb.Len() < 7<<10 {
		n := zipf.Uint64()
		fmt.Fprintf(&sb, "w%xord%d ", n*2654435761%100000, n%7)
		if n%11 == 0 {
			sb.WriteString("\n")
		}
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if len(searchWords("Re: Orders API times out", text, "ann@globex.example", "Ann")) == 0 {
			b.Fatal("no words")
		}
	}
}

// TestSearchWordsDistinctInOrder: searchWords' own set (wordSet) gives
// every distinct token once, in first-seen order, as a map would, through
// its table's growth and with words that only differ late or by length.
func TestSearchWordsDistinctInOrder(t *testing.T) {
	reference := func(texts ...string) []string {
		var words []string
		seen := map[string]bool{}
		for _, s := range texts {
			searchTokens(s, func(w []byte) {
				if !seen[string(w)] {
					seen[string(w)] = true
					words = append(words, string(w))
				}
			})
		}
		return words
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var big strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&big, "w%d ", rng.IntN(5000))
		if i%97 == 0 {
			big.WriteString("Überladebrücke straße STRASSE ärger aaaa aaa aa a ")
		}
	}
	cases := [][]string{
		{"", "", "", ""},
		{"Re: Orders API times out", strings.Repeat(benchMailText, 3), "ann@globex.example", "Ann"},
		{"tiny", big.String(), "x@y.example", "X Y"},
		{strings.Repeat("ab ", 1000), strings.Repeat("abab ", 10), "", "ab"},
	}
	for i, c := range cases {
		got, want := searchWords(c...), reference(c...)
		if !slices.Equal(got, want) {
			t.Errorf("case %d: %d words, want %d; first difference at %d", i, len(got), len(want),
				func() int {
					for k := range min(len(got), len(want)) {
						if got[k] != want[k] {
							return k
						}
					}
					return min(len(got), len(want))
				}())
		}
	}
}
