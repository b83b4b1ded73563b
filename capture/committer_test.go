package capture

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/ticket"
)

// poisonBlobs is memBlobs whose writes fail for a message containing
// "POISON".
type poisonBlobs struct{ *memBlobs }

func (b poisonBlobs) Create() (ticket.BlobWriter, error) {
	w, err := b.memBlobs.Create()
	if err != nil {
		return nil, err
	}
	return &poisonWriter{BlobWriter: w}, nil
}

func (b poisonBlobs) CreateNew() (ticket.BlobWriter, error) { return b.Create() }

type poisonWriter struct {
	ticket.BlobWriter
}

func (w *poisonWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "POISON") {
		return 0, errors.New("disk full")
	}
	return w.BlobWriter.Write(p)
}

func committerMail(key string, pad int) string {
	return "Subject: " + key + "\r\nMessage-ID: <" + key + "@x>\r\n\r\nbody " + key + strings.Repeat(".", pad) + "\r\n"
}

// runCommitter adds one message per key (those in big over BufferMax, so
// prepared on the adding goroutine) and returns the groups Committed saw
// and the first error of Add or Finish.
func runCommitter(t *testing.T, p *Pipeline, opts CommitOptions, keys []string, big map[string]bool) ([][]Outcome[string], error) {
	t.Helper()
	var groups [][]Outcome[string]
	cm := NewCommitter(context.Background(), p, opts, func(g []Outcome[string]) error {
		groups = append(groups, g) // on the adding goroutine: no lock (the race detector checks)
		for _, o := range g {
			if o.Err != nil {
				return fmt.Errorf("%s: %w", o.Tag, o.Err)
			}
		}
		return nil
	})
	defer cm.Close()
	var err error
	for _, k := range keys {
		pad := 0
		if big[k] {
			pad = int(opts.BufferMax) + 1
		}
		raw := committerMail(k, pad)
		if err = cm.Add(Delivery{Mailbox: "support", SourceKey: k}, strings.NewReader(raw), int64(len(raw)), k); err != nil {
			break
		}
	}
	return groups, errors.Join(err, cm.Finish())
}

func tags(groups [][]Outcome[string]) (all []string, ok []string) {
	for _, g := range groups {
		for _, o := range g {
			all = append(all, o.Tag)
			if o.Err == nil {
				ok = append(ok, o.Tag)
			}
		}
	}
	return all, ok
}

func TestCommitterGroupsInOrder(t *testing.T) {
	blobs := newMemBlobs()
	sink := keyedSink("")
	p := &Pipeline{Blobs: blobs, Sink: sink}
	keys := []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	groups, err := runCommitter(t, p, CommitOptions{GroupMessages: 3, BufferMax: 64}, keys, map[string]bool{"k2": true, "k6": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 3 || len(groups[0]) != 3 || len(groups[2]) != 1 {
		t.Fatalf("groups of %v, want 3+3+1", groups)
	}
	all, _ := tags(groups)
	if strings.Join(all, ",") != strings.Join(keys, ",") {
		t.Errorf("outcomes in order %v, want %v", all, keys)
	}
	for _, g := range groups {
		for _, o := range g {
			if want, _ := answer(ticket.Inbound{SourceKey: o.Tag}); o.Err != nil || o.Result != want {
				t.Errorf("%s: %+v, %v; want %+v", o.Tag, o.Result, o.Err, want)
			}
		}
	}
	var committed []string
	for _, in := range sink.got {
		committed = append(committed, in.SourceKey)
		if in.Raw.SHA256 == "" {
			t.Errorf("%s committed without its raw blob: %+v", in.SourceKey, in.Raw)
		}
	}
	if strings.Join(committed, ",") != strings.Join(keys, ",") || sink.commits != 3 {
		t.Errorf("sink committed %v in %d transactions, want %v in 3", committed, sink.commits, keys)
	}
	if blobs.syncs < sink.commits {
		t.Errorf("%d blob syncs for %d commits: every group must sync ahead of its turn", blobs.syncs, sink.commits)
	}
}

// A message that cannot be prepared ends the pass there: those before it
// commit, none after it does (though workers prepared them), and its own
// outcome carries the error.
func TestCommitterPrepareFailureStopsAfter(t *testing.T) {
	sink := keyedSink("")
	p := &Pipeline{Blobs: poisonBlobs{newMemBlobs()}, Sink: sink}
	keys := []string{"k1", "k2", "POISON3", "k4", "k5", "k6", "k7"}
	groups, err := runCommitter(t, p, CommitOptions{GroupMessages: 2}, keys, nil)
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "POISON3") {
		t.Fatalf("err = %v, want the storage error of POISON3", err)
	}
	all, ok := tags(groups)
	if strings.Join(ok, ",") != "k1,k2" || all[len(all)-1] != "POISON3" {
		t.Errorf("outcomes %v (committed %v), want k1,k2 committed and POISON3 failed last", all, ok)
	}
	if len(sink.got) != 2 {
		t.Errorf("sink committed %d messages, want the 2 before the failure", len(sink.got))
	}
}

// A big message (prepared on the adding goroutine) that cannot be stored
// fails Add itself; Finish still commits the ones added before it.
func TestCommitterSyncPrepareFailure(t *testing.T) {
	sink := keyedSink("")
	p := &Pipeline{Blobs: poisonBlobs{newMemBlobs()}, Sink: sink}
	keys := []string{"k1", "k2", "POISON3", "k4"}
	groups, err := runCommitter(t, p, CommitOptions{BufferMax: 64}, keys, map[string]bool{"POISON3": true})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the storage error", err)
	}
	if _, ok := tags(groups); strings.Join(ok, ",") != "k1,k2" {
		t.Errorf("committed %v, want k1,k2", ok)
	}
}

// A group whose commit fails keeps every later group out of the sink.
func TestCommitterCommitFailureStopsLaterGroups(t *testing.T) {
	sink := keyedSink("")
	p := &Pipeline{Blobs: newMemBlobs(), Sink: sink}
	keys := []string{"k1", "k2", "bad3", "k4", "k5", "k6", "k7", "k8"}
	groups, err := runCommitter(t, p, CommitOptions{GroupMessages: 2}, keys, nil)
	if !errors.Is(err, errRefused) {
		t.Fatalf("err = %v, want the sink's refusal", err)
	}
	var committed []string
	for _, in := range sink.got {
		committed = append(committed, in.SourceKey)
	}
	// The failed group's other message (k4) was in the same transaction;
	// nothing after that group reaches the sink.
	if strings.Join(committed, ",") != "k1,k2,bad3,k4" {
		t.Errorf("sink saw %v, want k1,k2,bad3,k4", committed)
	}
	if _, ok := tags(groups); strings.Join(ok, ",") != "k1,k2,k4" {
		t.Errorf("reported committed %v, want k1,k2,k4", ok)
	}
}
