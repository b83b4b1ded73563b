package gmailsource

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/capture/gmailsource/gmailtest"
)

// BenchmarkGmailCapture10k puts 10,000 generated messages (about 8 KB on
// average, some with 200 KB attachments) through the fake Gmail API on
// loopback. Sub-benchmarks:
//   - api: list + messages.get format=raw + stream-decode of every message,
//     nothing stored: the Gmail side of capture alone;
//   - store: a full sync (Once) into a fresh SQLite store through Parse and
//     ticket.Service.Ingest, blobs not fsynced (store.Options.SkipBlobFsync);
//     with fsync the figure is bounded by the disk's fsync latency instead.
//
// Reported: msg/s, MB/s and API requests per message (one messages.get
// each, plus the profile and one list page per 500 messages).
func BenchmarkGmailCapture10k(b *testing.B) {
	const n = 10000
	mails := gmailtest.Corpus(n)
	var total int64
	for _, m := range mails {
		total += int64(len(m))
	}
	fake := gmailtest.New(gmailtest.Options{})
	defer fake.Close()
	for _, m := range mails {
		fake.AddMessage("me", m)
	}
	report := func(b *testing.B, elapsed time.Duration, requests int64) {
		b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "msg/s")
		b.ReportMetric(float64(requests)/float64(n*b.N), "req/msg")
	}

	b.Run("api", func(b *testing.B) {
		src, _ := newSource(b, newEnv(b), fake, nil)
		b.SetBytes(total)
		var elapsed time.Duration
		var requests int64
		for b.Loop() {
			start, r0 := time.Now(), src.requests.Load()
			ids, err := src.listIDs(context.Background(), "in:inbox")
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			err = src.fetchOrdered(context.Background(), ids, func(f *fetched) error {
				r, err := f.spool.Reader()
				if err == nil {
					_, err = io.Copy(io.Discard, r)
				}
				got++
				return err
			})
			if err != nil || got != n {
				b.Fatalf("fetched %d of %d: %v", got, n, err)
			}
			elapsed += time.Since(start)
			requests += src.requests.Load() - r0
		}
		report(b, elapsed, requests)
	})

	b.Run("store", func(b *testing.B) {
		b.SetBytes(total)
		var elapsed time.Duration
		var requests int64
		for b.Loop() {
			b.StopTimer()
			e := newEnvFsync(b, false)
			src, _ := newSource(b, e, fake, nil)
			b.StartTimer()
			start := time.Now()
			st := mustOnce(b, src)
			elapsed += time.Since(start)
			requests += st.Requests
			if st.New != n {
				b.Fatalf("captured %d of %d: %+v", st.New, n, st)
			}
		}
		report(b, elapsed, requests)
	})
}
