package api

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// BenchmarkTicketCreate: POST /api/v1/tickets over HTTP against the real
// store, 8 clients at once. Reports creates_per_s (issue: ≥ 500/s).
func BenchmarkTicketCreate(b *testing.B) {
	f := newFixture(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var n atomic.Int64
	b.SetParallelism(4) // 4 × GOMAXPROCS clients
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"requester":{"email":"c%d@customer.example"},"subject":"Order %d late","body":"Where is order %d?","tags":["web"]}`, i, i, i)
			req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/tickets", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+f.tokenA)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("form-%d", i))
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("POST /api/v1/tickets: %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "creates_per_s")
}

// BenchmarkSSEFanout500: 500 clients hold GET /api/v1/events open as
// Server-Sent Events; each iteration commits one ticket and waits until
// every client has its events. Reports the p50_ms and p99_ms from commit
// to a client's receipt over all clients (issue: p99 ≤ 1 s).
func BenchmarkSSEFanout500(b *testing.B) {
	const clients = 500
	f := newFixture(b)
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: 0}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	var (
		mu      sync.Mutex
		lat     []time.Duration
		sentAt  atomic.Int64 // unix nanos of the current commit
		want    atomic.Int64 // the ticket number every client waits for
		got     sync.WaitGroup
		started sync.WaitGroup
	)
	started.Add(clients)
	for i := range clients {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+f.tokenA)
		req.Header.Set("Accept", "text/event-stream")
		go func() {
			resp, err := tr.RoundTrip(req)
			started.Done()
			if err != nil || resp.StatusCode != 200 {
				b.Errorf("client %d: %v %v", i, err, resp)
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			var seen int64
			for sc.Scan() {
				line := sc.Text()
				if !strings.HasPrefix(line, "data: ") || !strings.Contains(line, `"type":"ticket.created"`) {
					continue
				}
				var num int64
				if k := strings.Index(line, `"ticket_number":`); k >= 0 {
					fmt.Sscanf(line[k+len(`"ticket_number":`):], "%d", &num)
				}
				if num <= seen || num != want.Load() {
					continue
				}
				seen = num
				d := time.Since(time.Unix(0, sentAt.Load()))
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				got.Done()
			}
		}()
	}
	started.Wait()
	time.Sleep(200 * time.Millisecond) // every stream is past its backlog
	var number int64
	for b.Loop() {
		number++
		got.Add(clients)
		want.Store(number)
		sentAt.Store(time.Now().UnixNano())
		if _, _, err := f.svc.Create(context.Background(), "default", newTicketFor(number)); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { got.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			b.Fatalf("ticket %d: not every client heard of it within 30 s", number)
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}

func newTicketFor(n int64) ticket.NewTicket {
	return ticket.NewTicket{Requester: ticket.Address{Email: fmt.Sprintf("s%d@customer.example", n)},
		Subject: fmt.Sprintf("Stream %d", n), Source: "api"}
}
