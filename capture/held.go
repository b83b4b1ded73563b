package capture

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sidedesk/sidedesk/ticket"
)

// Held counts the new messages of a capture pass that the loop guard held
// (on no ticket), by why: their class (bounce, auto_reply, list,
// feedback) or "flood".
type Held map[string]int

// Add counts r when it held a new message.
func (h Held) Add(r ticket.Result) {
	if !r.Held || r.Duplicate {
		return
	}
	why := string(r.Classification)
	if why == "" || r.Classification == ticket.ClassNormal {
		why = "flood"
	}
	h[why]++
}

// Total is how many were held.
func (h Held) Total() int {
	n := 0
	for _, c := range h {
		n += c
	}
	return n
}

// String is "12 held: 9 bounce, 3 auto_reply" (most first), "" for none.
func (h Held) String() string {
	if h.Total() == 0 {
		return ""
	}
	keys := slices.SortedFunc(maps.Keys(h), func(a, b string) int {
		if h[a] != h[b] {
			return h[b] - h[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", h[k], k))
	}
	return fmt.Sprintf("%d held: %s", h.Total(), strings.Join(parts, ", "))
}

// NewWithHeld renders "new N" with what was held in brackets:
// "new 99 (12 held: 9 bounce, 3 auto_reply)".
func NewWithHeld(n int, h Held) string {
	if s := h.String(); s != "" {
		return fmt.Sprintf("new %d (%s)", n, s)
	}
	return fmt.Sprintf("new %d", n)
}
