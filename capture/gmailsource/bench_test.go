package gmailsource

import (
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/capture/gmailsource/gmailtest"
)

// BenchmarkGmailCapture10k captures 10,000 generated messages (about 8 KB
// average) through the fake Gmail API into a fresh SQLite store: one full
// sync per iteration. Reported: messages/s, MB/s and API requests per
// message (1 messages.get each, plus the profile and a list page per 500).
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
	b.SetBytes(total)
	b.ResetTimer()
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		e := newEnv(b)
		src, _ := newSource(b, e, fake, nil)
		fake.ResetRequests()
		b.StartTimer()
		start := time.Now()
		st := mustOnce(b, src)
		elapsed += time.Since(start)
		b.StopTimer()
		if st.New != n {
			b.Fatalf("captured %d of %d: %+v", st.New, n, st)
		}
		b.ReportMetric(st.RequestsPerMessage(), "req/msg")
		b.ReportMetric(float64(fake.TotalRequests())/n, "server-req/msg")
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "msg/s")
}
