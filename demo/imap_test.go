package demo

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// selectINBOX logs in and returns what SELECT and STATUS say of INBOX.
func selectINBOX(t *testing.T, srv *IMAPServer) (sel *imap.SelectData, st *imap.StatusData) {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(srv.Username, srv.Password).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	st, err = c.Status("INBOX", &imap.StatusOptions{UIDValidity: true, UIDNext: true, NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	sel, err = c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	return sel, st
}

// A restarted demo server numbers its UIDs from 1 again; it must say so
// with a new UIDVALIDITY, or a client that trusts UIDVALIDITY skips mail.
func TestRestartChangesUIDValidity(t *testing.T) {
	start := func() *IMAPServer {
		srv, err := StartIMAP(context.Background(), IMAPOptions{Password: "pw", Seed: true})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	first := start()
	sel1, st1 := selectINBOX(t, first)
	first.Close()
	second := start()
	defer second.Close()
	sel2, st2 := selectINBOX(t, second)

	if sel1.UIDValidity == 0 || sel1.UIDValidity != st1.UIDValidity || sel1.UIDValidity != first.UIDValidity {
		t.Fatalf("first start: SELECT UIDVALIDITY %d, STATUS %d, server %d; want one non-zero value", sel1.UIDValidity, st1.UIDValidity, first.UIDValidity)
	}
	if sel2.UIDValidity <= sel1.UIDValidity || st2.UIDValidity != sel2.UIDValidity {
		t.Fatalf("after a restart: UIDVALIDITY %d (STATUS %d), before %d; want a greater one", sel2.UIDValidity, st2.UIDValidity, sel1.UIDValidity)
	}
	if sel2.UIDNext != sel1.UIDNext || sel1.NumMessages == 0 {
		t.Fatalf("UIDNEXT %d then %d, %d messages: both starts seed the same corpus from UID 1", sel1.UIDNext, sel2.UIDNext, sel1.NumMessages)
	}
}

func TestLoginRefusesWrongPassword(t *testing.T) {
	srv, err := StartIMAP(context.Background(), IMAPOptions{Password: "right"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := imapclient.DialInsecure(srv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(srv.Username, "wrong").Wait(); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if err := c.Login("someone@else.example", "right").Wait(); err == nil {
		t.Fatal("login as an unknown user succeeded")
	}
}
