package gmailtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// users.watch in the documented wire format: int64 fields as strings of
// digits, expiration in epoch milliseconds; bad topics and labels are 400s;
// faults and counting work as for other operations.
func TestWatch(t *testing.T) {
	ctx := context.Background()
	s := New(Options{WatchExpiry: time.Hour})
	defer s.Close()

	resp, err := http.Post(s.URL()+"gmail/v1/users/me/watch", "application/json",
		strings.NewReader(`{"topicName":"projects/acme/topics/gmail","labelIds":["INBOX"],"labelFilterBehavior":"include"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !regexp.MustCompile(`^\{"expiration":"\d{13}","historyId":"\d+"\}\n$`).Match(body) {
		t.Fatalf("raw watch: %d %s", resp.StatusCode, body)
	}

	svc, err := gmail.NewService(ctx, option.WithHTTPClient(s.Client()), option.WithEndpoint(s.URL()))
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	w, err := svc.Users.Watch("me", &gmail.WatchRequest{TopicName: "projects/acme/topics/gmail", LabelIds: []string{"INBOX", "UNREAD"}, LabelFilterBehavior: "include"}).Do()
	if err != nil {
		t.Fatal(err)
	}
	exp := time.UnixMilli(w.Expiration)
	if w.HistoryId != s.HistoryID("me") || exp.Before(before.Add(time.Hour).Add(-time.Second)) || exp.After(time.Now().Add(time.Hour)) {
		t.Fatalf("watch response %+v (expiration %v)", w, exp)
	}
	ws := s.Watches("me")
	if len(ws) != 2 || ws[1].TopicName != "projects/acme/topics/gmail" || strings.Join(ws[1].LabelIDs, ",") != "INBOX,UNREAD" || ws[1].LabelFilterBehavior != "include" {
		t.Fatalf("Watches: %+v", ws)
	}

	for _, tc := range []struct {
		name string
		req  *gmail.WatchRequest
		want string
	}{
		{"bad topic", &gmail.WatchRequest{TopicName: "gmail"}, "topicName"},
		{"unknown label", &gmail.WatchRequest{TopicName: "projects/acme/topics/gmail", LabelIds: []string{"Label_99"}}, "Invalid label"},
		{"bad behavior", &gmail.WatchRequest{TopicName: "projects/acme/topics/gmail", LabelIds: []string{"INBOX"}, LabelFilterBehavior: "maybe"}, "labelFilterBehavior"},
	} {
		_, err := svc.Users.Watch("me", tc.req).Do()
		var gerr *googleapi.Error
		if !errors.As(err, &gerr) || gerr.Code != 400 || !strings.Contains(gerr.Message, tc.want) {
			t.Errorf("%s: %v, want 400 mentioning %q", tc.name, err, tc.want)
		}
	}

	s.InjectFault(Fault{Op: "watch", Status: 403, Message: "Error sending test message to Cloud PubSub projects/acme/topics/gmail : User not authorized to perform this action."})
	s.ResetRequests()
	_, err = svc.Users.Watch("me", &gmail.WatchRequest{TopicName: "projects/acme/topics/gmail"}).Do()
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != 403 || !strings.Contains(gerr.Message, "not authorized") {
		t.Fatalf("fault: %v", err)
	}
	if n := s.Requests()["watch"]; n != 1 || len(s.Watches("me")) != 2 {
		t.Fatalf("watch requests %d, watches %d; want 1 and 2", n, len(s.Watches("me")))
	}
}

// With a push URL, a change under an unexpired watch is published as a
// Pub/Sub push request carrying Gmail's notification; other changes are not.
func TestWatchPublishes(t *testing.T) {
	got := make(chan map[string]any, 10)
	sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Message struct {
				Data string `json:"data"`
			} `json:"message"`
			Subscription string `json:"subscription"`
		}
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil || r.URL.Query().Get("token") != "tok" {
			t.Errorf("push request: %v %s", err, r.URL)
		}
		data, _ := base64.StdEncoding.DecodeString(env.Message.Data)
		var n map[string]any
		json.Unmarshal(data, &n)
		n["subscription"] = env.Subscription
		got <- n
		w.WriteHeader(204)
	}))
	defer sub.Close()
	s := New(Options{})
	s.SetPushURL(sub.URL + "/gmail/push?token=tok")
	s.AddMessage("me", Corpus(1)[0]) // no watch yet: not published

	svc, err := gmail.NewService(context.Background(), option.WithHTTPClient(s.Client()), option.WithEndpoint(s.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Users.Watch("me", &gmail.WatchRequest{TopicName: "projects/acme/topics/gmail", LabelIds: []string{"INBOX"}, LabelFilterBehavior: "include"}).Do(); err != nil {
		t.Fatal(err)
	}
	s.AddMessage("me", Corpus(1)[0], "SENT") // not a watched label
	s.AddMessage("me", Corpus(1)[0], "INBOX")
	s.Close() // waits for the pushes
	close(got)
	var ns []map[string]any
	for n := range got {
		ns = append(ns, n)
	}
	if len(ns) != 1 || ns[0]["emailAddress"] != "support@acme.example" || ns[0]["historyId"] != float64(s.HistoryID("me")) ||
		ns[0]["subscription"] != "projects/acme/subscriptions/gmailtest-push" {
		t.Fatalf("pushes %v, want one for the INBOX message", ns)
	}
}
