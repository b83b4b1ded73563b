package gmailtest

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// The fake answers the official Go client in the documented REST shapes.
func TestFakeSpeaksGmailV1(t *testing.T) {
	ctx := context.Background()
	s := New(Options{HistoryPageSize: 2})
	defer s.Close()
	svc, err := gmail.NewService(ctx, option.WithHTTPClient(s.Client()), option.WithEndpoint(s.URL()))
	if err != nil {
		t.Fatal(err)
	}
	start, err := svc.Users.GetProfile("me").Do()
	if err != nil || start.EmailAddress != "support@acme.example" {
		t.Fatalf("profile %+v %v", start, err)
	}
	var ids []string
	for _, m := range Corpus(5) {
		ids = append(ids, s.AddMessage("me", m))
	}
	s.AddMessage("me", Corpus(1)[0], "SPAM")

	// messages.list: newest first, paged, spam excluded.
	var listed []string
	err = svc.Users.Messages.List("me").Q("in:inbox").MaxResults(2).Pages(ctx, func(r *gmail.ListMessagesResponse) error {
		for _, m := range r.Messages {
			listed = append(listed, m.Id)
		}
		return nil
	})
	if err != nil || len(listed) != 5 || listed[0] != ids[4] || listed[4] != ids[0] {
		t.Fatalf("list %v %v", listed, err)
	}

	// messages.get format=raw: base64url of the exact bytes.
	m, err := svc.Users.Messages.Get("me", ids[2]).Format("raw").Do()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.URLEncoding.DecodeString(m.Raw)
	if err != nil || string(raw) != string(Corpus(5)[2]) || m.InternalDate == 0 {
		t.Fatalf("raw message differs (%v)", err)
	}

	// history.list: paged messageAdded records, then 404 once expired.
	var added []string
	var last uint64
	err = svc.Users.History.List("me").StartHistoryId(start.HistoryId).HistoryTypes("messageAdded").
		Pages(ctx, func(r *gmail.ListHistoryResponse) error {
			for _, h := range r.History {
				for _, a := range h.MessagesAdded {
					added = append(added, a.Message.Id)
				}
			}
			last = r.HistoryId
			return nil
		})
	if err != nil || len(added) != 6 || last != s.HistoryID("me") {
		t.Fatalf("history %v last %d: %v", added, last, err)
	}
	s.ExpireHistory("me")
	_, err = svc.Users.History.List("me").StartHistoryId(start.HistoryId).Do()
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != http.StatusNotFound {
		t.Fatalf("expired history: %v", err)
	}

	// labels: create, conflict, batchModify.
	l, err := svc.Users.Labels.Create("me", &gmail.Label{Name: "sidedesk/captured"}).Do()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Users.Labels.Create("me", &gmail.Label{Name: "Sidedesk/Captured"}).Do(); !errors.As(err, &gerr) || gerr.Code != 409 {
		t.Fatalf("duplicate label: %v", err)
	}
	if err := svc.Users.Messages.BatchModify("me", &gmail.BatchModifyMessagesRequest{Ids: ids[:2], AddLabelIds: []string{l.Id}}).Do(); err != nil {
		t.Fatal(err)
	}
	if got := s.Labels("me", ids[1]); len(got) != 3 || got[2] != l.Id {
		t.Fatalf("labels %v", got)
	}

	// Injected faults answer in Google's error format.
	s.InjectFault(Fault{Op: "messages.get", Status: 403, Reason: "userRateLimitExceeded", RetryAfter: "2"})
	_, err = svc.Users.Messages.Get("me", ids[0]).Format("raw").Do()
	if !errors.As(err, &gerr) || gerr.Code != 403 || gerr.Errors[0].Reason != "userRateLimitExceeded" || gerr.Header.Get("Retry-After") != "2" {
		t.Fatalf("fault: %v", err)
	}
}
