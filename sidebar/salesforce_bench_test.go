package sidebar

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/crm/salesforce"
	"github.com/sidedesk/sidedesk/internal/sftest"
)

// sfBenchPanel is the panel with Salesforce behind it, the agent signed
// in and connected (through the real consent flow).
func sfBenchPanel(b testing.TB, sf *sftest.Server, ttl time.Duration) (*panelFixture, *http.Client) {
	const redirect = "https://desk.acme.example/sidebar/crm/callback"
	late := &lateStore{}
	conn, err := salesforce.New(salesforce.Options{LoginURL: sf.URL, ClientID: sf.ClientID, ClientSecret: sf.ClientSecret,
		RedirectURL: redirect, Store: late, Saved: late, Key: bytes.Repeat([]byte{1}, 32), CacheTTL: ttl})
	if err != nil {
		b.Fatal(err)
	}
	f := newPanelFixture(b, func(o *Options) { o.CRM = conn })
	late.Store = f.st
	c := f.client()
	f.signIn(c, agentEmail)
	res := f.get(c, "/sidebar/crm/connect?return=/sidebar")
	res.Body.Close()
	res, err = c.Get(res.Header.Get("Location"))
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	back, _ := url.Parse(res.Header.Get("Location"))
	res = f.get(c, "/sidebar/crm/callback?"+back.RawQuery)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		b.Fatalf("connect: callback answered %d", res.StatusCode)
	}
	// Keep-alive connections for the concurrent views.
	c.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	return f, c
}

func seedSF(sf *sftest.Server) {
	acct := sf.Insert("Account", sftest.Record{"Name": "Globex", "Website": "globex.example"})
	sf.Insert("Contact", sftest.Record{"FirstName": "Hank", "LastName": "Scorpio", "Email": "hank@globex.example", "AccountId": acct})
	sf.Insert("Opportunity", sftest.Record{"Name": "Renewal", "StageName": "Prospecting", "CloseDate": "2027-01-01", "AccountId": acct})
}

// BenchmarkPanelSalesforce100ms: a whole panel view (GET /sidebar, the
// HTML) with Salesforce behind 100 ms per request and no cache: every
// view asks Salesforce. The look-up's queries run in parallel, so a view
// should cost one round trip: the target is p99 <= 1.5 x 100 ms. 200
// views, 10 at a time.
func BenchmarkPanelSalesforce100ms(b *testing.B) {
	const rtt = 100 * time.Millisecond
	sf := sftest.New()
	b.Cleanup(sf.Close)
	seedSF(sf)
	f, c := sfBenchPanel(b, sf, -1)
	sf.SetLatency(rtt)
	var all []time.Duration
	for b.Loop() {
		durs := make([]time.Duration, 200)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 10)
		for i := range durs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				t0 := time.Now()
				res, err := c.Get(f.srv.URL + "/sidebar?from=hank@globex.example")
				if err != nil {
					b.Error(err)
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				durs[i] = time.Since(t0)
				if res.StatusCode != 200 || !bytes.Contains(body, []byte("Hank Scorpio")) {
					b.Errorf("panel view %d: %d without the contact", i, res.StatusCode)
				}
			}()
		}
		wg.Wait()
		all = append(all, durs...)
	}
	slices.Sort(all)
	p := func(q float64) time.Duration { return all[int(q*float64(len(all)-1))] }
	b.ReportMetric(float64(p(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(p(0.99))/float64(rtt), "p99/rtt")
	if p(0.99) > rtt*3/2 {
		b.Logf("p99 %v is above the target of 1.5 x %v", p(0.99), rtt)
	}
}

// BenchmarkPanelSalesforceWarm: panel views with the look-up cached (the
// agent reopening the same mail within cache_ttl), Salesforce still 100 ms
// away; target >= 200 views/s.
func BenchmarkPanelSalesforceWarm(b *testing.B) {
	sf := sftest.New()
	b.Cleanup(sf.Close)
	seedSF(sf)
	f, c := sfBenchPanel(b, sf, time.Hour)
	sf.SetLatency(100 * time.Millisecond)
	warm, err := c.Get(f.srv.URL + "/sidebar?from=hank@globex.example")
	if err != nil {
		b.Fatal(err)
	}
	warm.Body.Close()
	b.SetParallelism(4)
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := c.Get(f.srv.URL + "/sidebar?from=hank@globex.example")
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("panel view: %d", res.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "views/s")
}
