package capture

import (
	"testing"

	"github.com/sidedesk/sidedesk/ticket"
)

func TestHeldCounts(t *testing.T) {
	h := Held{}
	for _, r := range []ticket.Result{
		{Held: true, Classification: ticket.ClassBounce},
		{Held: true, Classification: ticket.ClassAutoReply},
		{Held: true, Classification: ticket.ClassBounce},
		{Held: true, Classification: ticket.ClassNormal}, // the flood limit
		{Held: true, Classification: ticket.ClassBounce, Duplicate: true},
		{TicketID: 4, Classification: ticket.ClassBounce}, // a bounce on its ticket: not held
	} {
		h.Add(r)
	}
	if got, want := NewWithHeld(9, h), "new 9 (4 held: 2 bounce, 1 auto_reply, 1 flood)"; got != want {
		t.Errorf("NewWithHeld = %q, want %q", got, want)
	}
	if got := NewWithHeld(3, nil); got != "new 3" {
		t.Errorf("nothing held: %q", got)
	}
}
