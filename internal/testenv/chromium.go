package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// chromiumNames are the executables tried, in order, when
// SIDEDESK_CHROMIUM does not name one.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"}

// ChromiumPath finds a Chromium (or Chrome) executable: $SIDEDESK_CHROMIUM,
// else the first of chromium, chromium-browser, google-chrome on PATH.
func ChromiumPath() (string, error) {
	if p := os.Getenv("SIDEDESK_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)")
}

// StartChromium starts a private headless Chromium (its own empty profile
// in a temp dir; the flags of TESTENV.md, which work as root) and returns a
// chromedp context for one tab, cancelled (browser stopped) when the test
// ends. No Chromium: Unavailable.
func StartChromium(t testing.TB) context.Context {
	t.Helper()
	path, err := ChromiumPath()
	if err != nil {
		Unavailable(t, "Chromium", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// Start the browser now, so a broken install is reported here. (No
	// timeout on this first call: it would stop the browser with it.)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		acancel()
		Unavailable(t, "Chromium", err)
	}
	t.Cleanup(func() {
		cancel()
		acancel()
	})
	return ctx
}
