package testenv

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func testMsg(i int) []byte {
	return fmt.Appendf(nil, "From: a@example.com\r\nTo: b@example.com\r\nSubject: test %d\r\nMessage-ID: <t%d@example.com>\r\n\r\nbody %d\r\n", i, i, i)
}

func TestDovecot(t *testing.T) {
	const user = "test@example.com"
	d := StartDovecot(t, User{Email: user, Password: "secret"}, User{Email: "other@example.com", Password: "pw2"})

	t.Run("append and fill", func(t *testing.T) {
		uid := d.Append(t, user, "INBOX", testMsg(1))
		if uid == 0 {
			t.Fatal("APPEND returned no UID")
		}
		old := time.Date(2020, 3, 4, 5, 6, 7, 0, time.UTC)
		n, err := FillMaildir(d.MaildirFor(user), slices.Values([]MaildirMessage{
			{Raw: testMsg(2), Received: old}, {Raw: testMsg(3)},
		}))
		if err != nil || n != 2 {
			t.Fatalf("FillMaildir = %d, %v", n, err)
		}
		c := d.Client(t, user)
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if sel.NumMessages != 3 {
			t.Fatalf("INBOX has %d messages, want 3", sel.NumMessages)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{InternalDate: true}).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("fetch: %v %v", msgs, err)
		}
		if !msgs[0].InternalDate.Equal(old) {
			t.Errorf("INTERNALDATE = %v, want %v (from the file time)", msgs[0].InternalDate, old)
		}
	})

	t.Run("tls and starttls", func(t *testing.T) {
		c, err := imapclient.DialTLS(d.TLSAddr(), &imapclient.Options{TLSConfig: d.TLSConfig()})
		if err != nil {
			t.Fatalf("IMAPS: %v", err)
		}
		if err := c.Login(user, "secret").Wait(); err != nil {
			t.Fatalf("IMAPS login: %v", err)
		}
		c.Close()
		c, err = imapclient.DialStartTLS(d.Addr(), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: d.CertPool()}})
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		if err := c.Login(user, "wrong").Wait(); err == nil {
			t.Error("login with a wrong password succeeded")
		}
		c.Close()
	})

	t.Run("restart and uidvalidity", func(t *testing.T) {
		before := d.UIDValidity(t, user, "INBOX")
		d.Restart(t)
		// Start returns with the auth service up, not only the listeners:
		// Postfix's submission AUTH right after a restart depends on it.
		if err := authReady(d.AuthSocket()); err != nil {
			t.Errorf("auth service just after Restart: %v", err)
		}
		if got := d.UIDValidity(t, user, "INBOX"); got != before {
			t.Fatalf("restart changed UIDVALIDITY %d -> %d", before, got)
		}
		after := d.ChangeUIDValidity(t, user, "INBOX")
		if after == before {
			t.Fatalf("UIDVALIDITY unchanged: %d", after)
		}
		c := d.Client(t, user)
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if sel.NumMessages != 3 {
			t.Errorf("after the UIDVALIDITY change INBOX has %d messages, want 3", sel.NumMessages)
		}
	})

	t.Run("restart after a crash mid-sync", func(t *testing.T) {
		// The killed server may leave an empty uidlist dotlock behind; the
		// restarted one must not wait out its stale timeout on SELECT.
		d.Stop(t)
		lock := filepath.Join(d.MaildirFor(user), "dovecot-uidlist.lock")
		if err := os.WriteFile(lock, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := FillMaildir(d.MaildirFor(user), slices.Values([]MaildirMessage{{Raw: testMsg(4)}})); err != nil {
			t.Fatal(err)
		}
		d.Start(t)
		c := d.Client(t, user)
		got := make(chan error, 1)
		go func() {
			sel, err := c.Select("INBOX", nil).Wait()
			if err == nil && sel.NumMessages != 4 {
				err = fmt.Errorf("INBOX has %d messages, want 4", sel.NumMessages)
			}
			got <- err
		}()
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(15 * time.Second):
			c.Close()
			t.Fatal("SELECT after the restart did not answer in 15 s: the crash's dotlock was left in place")
		}
	})

	t.Run("folders", func(t *testing.T) {
		d.Append(t, "other@example.com", "Archive", testMsg(9))
		c := d.Client(t, "other@example.com")
		sel, err := c.Select("Archive", nil).Wait()
		if err != nil || sel.NumMessages != 1 {
			t.Fatalf("Archive: %+v %v", sel, err)
		}
	})
}
