package store

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// The search index's words as rows (migration 3000): prefix search expands
// "wareh*" to the words it stands for by a range read of search_terms,
// which must hold every word FTS5 indexed. Each inserted message's words
// are added in its transaction; words this process knows are in the table
// are skipped (termCache), so a mailbox's everyday words cost a map
// look-up, not a statement.

// searchTokens calls f with each word FTS5's tokenizer (unicode61,
// remove_diacritics 2) makes of s: runs of letters, numbers and
// private-use characters, lower-cased, diacritics removed. The word is in
// a buffer reused for the next one.
func searchTokens(s string, f func([]byte)) {
	var buf [maxTermBytes * 2]byte
	b := buf[:0]
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			if l := asciiWordByte[c]; l != 0 {
				b = append(b, l)
			} else if len(b) > 0 {
				f(b)
				b = b[:0]
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r) || unassigned(r):
			b = foldRune(b, r)
		case unicode.Is(unicode.Mn, r):
			// A combining mark: removed with the diacritics (FTS5 keeps
			// the word whole).
		case len(b) > 0:
			f(b)
			b = b[:0]
		}
	}
	if len(b) > 0 {
		f(b)
	}
}

// asciiWordByte is what an ASCII byte adds to a word: letters lower-cased,
// digits as they are; 0 for the bytes that end one.
var asciiWordByte = func() (t [utf8.RuneSelf]byte) {
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c
	}
	for c := byte('a'); c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = c, c
	}
	return t
}()

// foldRune appends r lower-cased and, in the Latin blocks FTS5 folds,
// without its diacritics (Greek, Hangul and the rest keep theirs: FTS5's
// remove_diacritic table covers Latin only).
func foldRune(b []byte, r rune) []byte {
	if l := unicode.ToLower(r); l != r {
		r = l
	} else if u := unicode.ToUpper(r); u != r {
		// Case folding, as FTS5 does it: µ (micro) → μ, ϵ → ε. Not to
		// ASCII: FTS5 keeps ı and ſ.
		if f := unicode.ToLower(u); f != r && f >= utf8.RuneSelf {
			r = f
		}
	}
	switch {
	case 0xC0 <= r && r <= 0x24F:
		return append(b, latinFolds()[r-0xC0]...)
	case 0x1E00 <= r && r <= 0x1EFF:
		return append(b, latinFolds()[r-0x1E00+0x24F-0xC0+1]...)
	}
	return utf8.AppendRune(b, r)
}

// latinFolds are the Latin letters FTS5 folds, without their diacritics:
// U+00C0..U+024F then U+1E00..U+1EFF.
var latinFolds = sync.OnceValue(func() []string {
	var out []string
	for _, rg := range [][2]rune{{0xC0, 0x24F}, {0x1E00, 0x1EFF}} {
		for r := rg[0]; r <= rg[1]; r++ {
			var f []byte
			for _, c := range norm.NFD.String(string(r)) {
				if !unicode.Is(unicode.Mn, c) {
					f = utf8.AppendRune(f, c)
				}
			}
			if len(f) == 0 {
				f = utf8.AppendRune(f, r)
			}
			out = append(out, string(f))
		}
	}
	return out
})

// termCache is the words this process knows to be in search_terms.
type termCache struct {
	mu    sync.RWMutex
	known map[string]struct{}
}

// maxCachedTerms bounds the cache (a few MB); when full it starts over.
const maxCachedTerms = 100_000

// has reports whether t is known (tests).
func (c *termCache) has(t string) bool {
	c.mu.RLock()
	_, ok := c.known[t]
	c.mu.RUnlock()
	return ok
}

// add records terms committed to the table.
func (c *termCache) add(terms []string) {
	if len(terms) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known == nil || len(c.known)+len(terms) > maxCachedTerms {
		c.known = make(map[string]struct{}, 1024)
	}
	for _, t := range terms {
		// A search word is a substring of its message's word string
		// (wordSet): kept alone, not pinning the rest.
		c.known[strings.Clone(t)] = struct{}{}
	}
}

// maxTermBytes: longer "words" (base64 runs, hashes) are not prefixes
// anyone types; FTS5 indexes them, the expansion simply skips them.
const maxTermBytes = 64

// SearchWords implements ticket.WordIndexer: the distinct words of a
// message, as the search index keeps them.
func (s *Store) SearchWords(subject, text, fromEmail, fromName string) []string {
	return searchWords(subject, text, fromEmail, fromName)
}

func searchWords(texts ...string) []string {
	n := 0
	for _, s := range texts {
		n += len(s)
	}
	ws := newWordSet(n)
	for _, s := range texts {
		searchTokens(s, ws.add)
	}
	out := ws.words()
	ws.free()
	return out
}

// wordSets recycles wordSets (their table and arena were a twentieth of
// a capture's allocations); a set grown past wordSetKeepSlots is let go.
var wordSets sync.Pool // *wordSet

const wordSetKeepSlots = 1 << 14

// wordSet collects distinct words: an open-addressing table over one
// byte arena, so a mail's thousand words cost no map and one string (the
// words are substrings of it). A Go map of strings was half of
// searchWords' time on real mail (a lookup per word, mostly misses into a
// growing map) and an allocation per distinct word.
type wordSet struct {
	slots []wordSlot // a power of two long, at most half full
	spans []wordSpan // the distinct words, in first-seen order
	arena []byte
}

type wordSlot struct {
	hash uint32
	idx  uint32 // 1 + the index in spans; 0: empty
}

type wordSpan struct{ off, len uint32 }

var wordSeed = maphash.MakeSeed()

// newWordSet sizes the table for n bytes of text: mail has a distinct
// word every 20–30 bytes; the table grows when there are more.
func newWordSet(n int) *wordSet {
	size := 64
	for size < n/16 {
		size *= 2
	}
	if ws, ok := wordSets.Get().(*wordSet); ok {
		// A recycled table is all zeroes up to its capacity (free clears
		// what was used): the first size slots are a fresh table.
		if cap(ws.slots) >= size {
			ws.slots = ws.slots[:size]
		} else {
			ws.slots = make([]wordSlot, size)
		}
		return ws
	}
	return &wordSet{slots: make([]wordSlot, size), arena: make([]byte, 0, n/4)}
}

// free empties ws and gives it back; words() already copied its words.
func (ws *wordSet) free() {
	if cap(ws.slots) > wordSetKeepSlots {
		return
	}
	clear(ws.slots)
	ws.spans, ws.arena = ws.spans[:0], ws.arena[:0]
	wordSets.Put(ws)
}

func (ws *wordSet) add(w []byte) {
	h := uint32(maphash.Bytes(wordSeed, w))
	mask := uint32(len(ws.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := ws.slots[i]
		if sl.idx == 0 {
			ws.spans = append(ws.spans, wordSpan{uint32(len(ws.arena)), uint32(len(w))})
			ws.arena = append(ws.arena, w...)
			ws.slots[i] = wordSlot{h, uint32(len(ws.spans))}
			if 2*len(ws.spans) > len(ws.slots) {
				ws.grow()
			}
			return
		}
		if sl.hash == h {
			sp := ws.spans[sl.idx-1]
			if bytes.Equal(ws.arena[sp.off:sp.off+sp.len], w) {
				return
			}
		}
	}
}

func (ws *wordSet) grow() {
	slots := make([]wordSlot, 2*len(ws.slots))
	mask := uint32(len(slots) - 1)
	for _, sl := range ws.slots {
		if sl.idx == 0 {
			continue
		}
		i := sl.hash & mask
		for slots[i].idx != 0 {
			i = (i + 1) & mask
		}
		slots[i] = sl
	}
	ws.slots = slots
}

// words returns the distinct words, substrings of one string: a caller
// that keeps one long (the term cache) clones it.
func (ws *wordSet) words() []string {
	if len(ws.spans) == 0 {
		return nil
	}
	all := string(ws.arena)
	out := make([]string, len(ws.spans))
	for i, sp := range ws.spans {
		out[i] = all[sp.off : sp.off+sp.len]
	}
	return out
}

// indexSearch adds message id's words (its distinct ones, searchWords) to
// the search index and those new to search_terms in t's transaction.
// FTS5 tokenises them again, which leaves each as it is: the index holds
// what it would have made of the whole texts, for a fraction of the work
// in the one writing transaction. The index rows are written when the
// transaction's work is done (flushSearch).
func (t *tx) indexSearch(ctx context.Context, id int64, words []string) error {
	if len(words) > 0 {
		t.search = append(t.search, pendingSearch{id, strings.Join(words, " ")})
	}
	return t.indexTerms(ctx, words)
}

// pendingSearch is one message's row of the search index, to be written.
type pendingSearch struct {
	id    int64
	words string
}

// flushSearch writes the transaction's search index rows, last: FTS5
// collects rows in memory and writes them out as a segment whenever a
// statement opens a savepoint (every multi-row INSERT does), so rows
// written between a capture's other statements made a segment per
// message, and merging those was most of the index's cost.
func (t *tx) flushSearch(ctx context.Context) error {
	for _, p := range t.search {
		if _, err := t.q.ExecContext(ctx, `INSERT INTO message_search (rowid, body) VALUES (?, ?)`, p.id, p.words); err != nil {
			return fmt.Errorf("store: index message %d for search: %w", p.id, err)
		}
	}
	t.search = nil
	return nil
}

// indexTerms adds the words new to search_terms (up to maxTermBytes
// long) in t's transaction; they enter the cache when it commits
// (tx.newTerms).
func (t *tx) indexTerms(ctx context.Context, words []string) error {
	var fresh []string
	c := &t.s.terms
	c.mu.RLock()
	for _, w := range words {
		if _, ok := c.known[w]; !ok && len(w) <= maxTermBytes {
			fresh = append(fresh, w)
		}
	}
	c.mu.RUnlock()
	for _, w := range fresh {
		if _, err := t.q.ExecContext(ctx, `INSERT OR IGNORE INTO search_terms (term) VALUES (?)`, w); err != nil {
			return fmt.Errorf("store: index search terms: %w", err)
		}
	}
	t.newTerms = append(t.newTerms, fresh...)
	return nil
}

// RebuildSearchTerms fills search_terms from the search index (after rows
// were written around InsertMessage: benchmark data).
func (s *Store) RebuildSearchTerms(ctx context.Context) error {
	_, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO search_terms (term) SELECT term FROM message_search_vocab`)
	if err != nil {
		return fmt.Errorf("store: rebuild search terms: %w", err)
	}
	return nil
}

// unassigned reports a code point of no Unicode category (in Go's tables);
// FTS5's tokenizer keeps those inside words.
func unassigned(r rune) bool {
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C)
}
