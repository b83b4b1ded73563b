package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// BenchmarkWebhookDelivery: the time from a ticket's commit to its signed
// ticket.created webhook arriving at a real HTTP receiver, through the
// outbox runner (woken by the commit), one event at a time and in bursts
// of 50. Reports p50_ms and p99_ms (issue: p99 ≤ 500 ms).
func BenchmarkWebhookDelivery(b *testing.B) {
	for _, burst := range []int{1, 50} {
		b.Run(map[int]string{1: "single", 50: "burst50"}[burst], func(b *testing.B) {
			e := newEnv(b)
			var (
				mu   sync.Mutex
				sent = map[int64]time.Time{}
				lat  []time.Duration
			)
			arrived := make(chan struct{}, 4096)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var m struct {
					Data struct {
						TicketNumber int64 `json:"ticket_number"`
					} `json:"data"`
				}
				_ = json.Unmarshal(body, &m)
				mu.Lock()
				if t0, ok := sent[m.Data.TicketNumber]; ok {
					lat = append(lat, time.Since(t0))
					delete(sent, m.Data.TicketNumber)
				}
				mu.Unlock()
				arrived <- struct{}{}
			}))
			b.Cleanup(srv.Close)
			if _, _, err := e.hooks.Create(context.Background(), "default", srv.URL, []string{"ticket.created"}); err != nil {
				b.Fatal(err)
			}
			e.run()
			time.Sleep(100 * time.Millisecond) // the consumer is up
			var number int64
			for b.Loop() {
				for range burst {
					number++
					mu.Lock()
					sent[number] = time.Now()
					mu.Unlock()
					// A sender per mail: the loop guard holds a flood from one.
					if _, err := e.svc.Ingest(context.Background(), ticket.Inbound{Tenant: "default", Mailbox: "support",
						SourceKey: fmt.Sprintf("b%d", number), MessageID: fmt.Sprintf("b%d@customer.example", number),
						BodyHash: fmt.Sprint(number), From: ticket.Address{Email: fmt.Sprintf("c%d@customer.example", number)},
						Subject: "help", Text: "help", Date: time.Now()}); err != nil {
						b.Fatal(err)
					}
				}
				for range burst {
					select {
					case <-arrived:
					case <-time.After(10 * time.Second):
						b.Fatalf("a webhook did not arrive within 10 s (%d sent, %d measured)", number, len(lat))
					}
				}
			}
			b.StopTimer()
			mu.Lock()
			defer mu.Unlock()
			slices.Sort(lat)
			if len(lat) == 0 {
				b.Fatal("no deliveries measured")
			}
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
}
