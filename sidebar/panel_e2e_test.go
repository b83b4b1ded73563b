package sidebar

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sidedesk/sidedesk/internal/testenv"
	"github.com/sidedesk/sidedesk/ticket"
)

// hostileMail tries every way to run script in the panel: script tags,
// event handlers, javascript: links, in the subject, the text and the
// HTML. Anything that runs calls alert() and fetches /pwned/<how>, which
// the test server counts.
const hostileMail = "From: \"Mallory <img src=x onerror=alert(1)>\" <mallory@evil.example>\r\n" +
	"To: support@acme.example\r\n" +
	"Subject: <script>alert('subject');fetch('/pwned/subject')</script> invoice\r\n" +
	"Message-ID: <hostile-1@evil.example>\r\n" +
	"Date: Mon, 16 Nov 2026 10:00:00 +0000\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=b1\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
	"Hi <script>alert('text');fetch('/pwned/text')</script> <img src=/nope onerror=\"fetch('/pwned/text-onerror')\">\r\n" +
	"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
	"<p>Hello</p><script>alert('html');fetch('/pwned/html')</script>" +
	"<img src=\"/nope.png\" onerror=\"alert('onerror');fetch('/pwned/onerror')\">" +
	"<a id=js href=\"javascript:alert('js');fetch('/pwned/js')\">click me</a>" +
	"<svg onload=\"fetch('/pwned/svg')\"></svg><iframe src=\"javascript:fetch('/pwned/iframe')\"></iframe>\r\n" +
	"--b1--\r\n"

// artifactDir is where screenshots go: $SIDEDESK_ARTIFACTS, the test's
// artifact directory under `go test -artifacts`, else testdata/out
// (git-ignored).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("SIDEDESK_ARTIFACTS")
	if dir == "" {
		if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
			return t.ArtifactDir()
		}
		dir = filepath.Join("testdata", "out")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPanelE2E drives the panel in headless Chromium: sign in, open the
// panel of a captured demo mail at task-pane width, save it to an
// opportunity (htmx), reload and see the link; a hostile mail runs no
// script; the Outlook task pane, given an item by a stub Office.js, opens
// the right panel.
func TestPanelE2E(t *testing.T) {
	f := newPanelFixture(t)
	f.deliverFile("01-globex-production-down.eml")
	f.deliver("default", "hostile:1", []byte(hostileMail))
	// The same hostile HTML, unsanitised, straight into the store: the
	// sandboxed iframe must hold even if capture's sanitiser missed something.
	f.injectRawHTML(t, "hostile-2@evil.example", "<script>alert('raw');fetch('/pwned/raw')</script>"+
		"<img src=/nope2 onerror=\"alert('raw2');fetch('/pwned/raw-onerror')\"><a href=\"javascript:fetch('/pwned/raw-js')\">x</a>")
	var (
		pwnedMu sync.Mutex
		pwned   []string
	)
	if err := f.front.Mount("/pwned/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pwnedMu.Lock()
		pwned = append(pwned, r.URL.Path)
		pwnedMu.Unlock()
	})); err != nil {
		t.Fatal(err)
	}

	ctx := testenv.StartChromium(t)
	var dialogs atomic.Int32
	dialogEvents := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogEvents {
			if err != nil {
				return
			}
			dialogs.Add(1)
			t.Logf("dialog opened: %q", ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	var t0 = t
	eval := func(expr string) string {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		v, err := chromedp.Run(tctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t0.Errorf("evaluate %s: %v", expr, err)
			return ""
		}
		return v
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t0.Helper()
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(tctx, steps...); err != nil {
			loc := eval(`location.href`)
			body := eval(`document.body ? document.body.innerText.slice(0, 400) : ''`)
			panic(fmt.Sprintf("%s: %v (at %s: %q)\nserver log:\n%s", what, err, loc, body, f.logs.String()))
		}
	}
	// Outlook's CDN is unreachable here: fail it at once instead of waiting.
	// (Best effort: without it the load fails a little later.)
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{
		{URLPattern: "https://appsforoffice.microsoft.com/*", Block: true}}}); err != nil {
		t.Logf("blocking the Office.js CDN: %v", err)
	}
	run("viewport", chromedp.EmulateViewport(320, 900)) // the narrowest task pane (README: 320–450 px)

	annaQuery := url.Values{"message_id": {annaMsg}, "from": {"anna.schmidt@globex.example"}}.Encode()
	t.Run("sign in", func(t *testing.T) {
		run("sign in",
			chromedp.Navigate(f.srv.URL+"/sidebar?"+annaQuery),
			chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), agentEmail),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), agentPass),
			chromedp.Submit(chromedp.CSS(`input[name=password]`)),
			chromedp.WaitVisible(chromedp.CSS(`#crm`)),
		)
		if loc := eval(`location.pathname + location.search`); loc != "/sidebar?"+annaQuery {
			t.Errorf("after sign-in at %q, want back at the panel", loc)
		}
	})

	var oppKey string
	t.Run("save to an opportunity, reload", func(t *testing.T) {
		oppKey = eval(`document.querySelector('#crm input[value^="opportunity:"]').value`)
		run("save", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#crm input[value=%q]`, oppKey))),
			chromedp.Click(chromedp.CSS(`#crm button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#crm .link-saved[data-key=%q]`, oppKey))))
		if got := eval(`document.querySelector('#crm .flash') ? document.querySelector('#crm .flash').textContent : ''`); !strings.Contains(got, "Saved to CRM") {
			t.Errorf("no confirmation after the htmx save: %q", got)
		}
		if got := eval(`location.pathname + location.search`); got != "/sidebar?"+annaQuery {
			t.Errorf("htmx save navigated to %q", got)
		}
		run("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#crm`)))
		label := eval(fmt.Sprintf(`(document.querySelector('#crm .link-saved[data-key=%q]') || {textContent: ''}).textContent`, oppKey))
		if !strings.Contains(label, "Opportunity: Globex") {
			t.Errorf("after reload the saved link reads %q", label)
		}
		// The panel fits the narrowest task pane: nothing wider than 320 px.
		if w := eval(`String(document.documentElement.scrollWidth)`); w != "320" {
			wide := eval(`Array.from(document.querySelectorAll('*')).filter(e => e.getBoundingClientRect().right > 321).slice(-6).map(e => e.tagName + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right)).join(' ')`)
			t.Errorf("page is %s px wide in a 320 px pane; wide: %s", w, wide)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(artifactDir(t), "panel-320px.png")
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	})

	t.Run("hostile mail runs no script", func(t *testing.T) {
		for _, id := range []string{"hostile-1@evil.example", "hostile-2@evil.example"} {
			run("open "+id,
				chromedp.Navigate(f.srv.URL+"/sidebar?message_id="+url.QueryEscape(id)),
				chromedp.WaitVisible(chromedp.CSS(`#ticket .ticket-title`)))
			// Open every formatted-email view, so the iframes render.
			eval(`document.querySelectorAll('details.html').forEach(d => d.open = true); String(document.querySelectorAll('details.html iframe').length)`)
			run("let frames load", chromedp.Sleep(500*time.Millisecond))
			if n := eval(`String(document.querySelectorAll('details.html iframe').length)`); n == "0" {
				t.Errorf("%s: no formatted view to attack", id)
			}
			if s := eval(`Array.from(document.scripts).map(s => s.src.replace(location.origin, '')).join(',')`); s != "/sidebar/assets/htmx.min.js,/sidebar/assets/panel.js" {
				t.Errorf("%s: scripts on the page: %q", id, s)
			}
			if n := eval(`String(document.querySelectorAll('a[href^="javascript:"], [onerror], [onload]').length)`); n != "0" {
				t.Errorf("%s: %s active elements in the panel itself", id, n)
			}
			if sb := eval(`Array.from(document.querySelectorAll('iframe')).map(f => f.getAttribute('sandbox')).join('|')`); strings.Trim(sb, "|") != "" {
				t.Errorf("%s: iframe sandbox attributes %q, want all empty (no permissions)", id, sb)
			}
		}
		pwnedMu.Lock()
		defer pwnedMu.Unlock()
		if len(pwned) > 0 || dialogs.Load() > 0 {
			t.Errorf("hostile mail ran script: fetched %v, %d dialogs", pwned, dialogs.Load())
		}
	})

	t.Run("Outlook task pane opens the item's panel", func(t *testing.T) {
		stub := `window.Office = {
  onReady: function (cb) { setTimeout(function () { cb({host: "Outlook"}); }, 0); },
  context: {mailbox: {item: {
    internetMessageId: "<` + annaMsg + `>",
    from: {emailAddress: "anna.schmidt@globex.example", displayName: "Schmidt, Anna"},
    subject: "URGENT: production is down - API returns 503"}}}
};`
		res, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: stub})
		if err != nil {
			t.Fatal(err)
		}
		defer chromedp.Call(ctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams(res)) //nolint:errcheck
		run("task pane",
			chromedp.Navigate(f.srv.URL+"/sidebar/outlook/taskpane"),
			chromedp.WaitVisible(chromedp.CSS(`#ticket .ticket-title`)))
		want := url.Values{"message_id": {annaMsg}, "from": {"anna.schmidt@globex.example"},
			"subject": {"URGENT: production is down - API returns 503"}}
		loc, _ := url.Parse(eval(`location.href`))
		if loc.Path != "/sidebar" || loc.Query().Encode() != want.Encode() {
			t.Errorf("task pane went to %s, want /sidebar?%s", loc, want.Encode())
		}
		if title := eval(`document.querySelector('#ticket .ticket-title').textContent`); !strings.Contains(title, "production is down") {
			t.Errorf("task pane panel shows ticket %q", title)
		}
	})
}

// injectRawHTML stores a message whose HTML was never sanitised (as if a
// sanitiser bug let it through), bypassing capture.
func (f *panelFixture) injectRawHTML(t *testing.T, messageID, html string) {
	t.Helper()
	_, err := f.svc.Ingest(context.Background(), ticket.Inbound{
		Tenant: "default", Mailbox: "support", SourceKey: "raw:" + messageID, MessageID: messageID,
		BodyHash: "raw-" + messageID, Header: ticket.Header{},
		From:    ticket.Address{Name: "Mallory", Email: "mallory@evil.example"},
		Subject: "raw hostile", Text: "see HTML", HTML: html,
		Date: time.Date(2026, 11, 16, 11, 0, 0, 0, time.UTC), ReceivedAt: time.Now(),
	})
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
}
