package sidebar

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidedesk/sidedesk/api"
)

// manifestXML is the part of the add-in manifest the test checks.
type manifestXML struct {
	XMLName       xml.Name `xml:"http://schemas.microsoft.com/office/appforoffice/1.1 OfficeApp"`
	Type          string   `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
	ID            string   `xml:"Id"`
	Version       string   `xml:"Version"`
	ProviderName  string   `xml:"ProviderName"`
	DefaultLocale string   `xml:"DefaultLocale"`
	DisplayName   struct {
		Value string `xml:"DefaultValue,attr"`
	} `xml:"DisplayName"`
	IconURL struct {
		Value string `xml:"DefaultValue,attr"`
	} `xml:"IconUrl"`
	Hosts []struct {
		Name string `xml:"Name,attr"`
	} `xml:"Hosts>Host"`
	Form struct {
		Type           string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
		SourceLocation struct {
			Value string `xml:"DefaultValue,attr"`
		} `xml:"DesktopSettings>SourceLocation"`
	} `xml:"FormSettings>Form"`
	Permissions string `xml:"Permissions"`
	Rule        struct {
		Rules []struct {
			ItemType string `xml:"ItemType,attr"`
			FormType string `xml:"FormType,attr"`
		} `xml:"Rule"`
	} `xml:"Rule"`
	Overrides struct {
		Type  string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
		Hosts []struct {
			Type         string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
			FunctionFile struct {
				ResID string `xml:"resid,attr"`
			} `xml:"DesktopFormFactor>FunctionFile"`
			ExtensionPoints []struct {
				Type     string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
				Controls []struct {
					Type   string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
					Action struct {
						Type           string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
						SourceLocation struct {
							ResID string `xml:"resid,attr"`
						} `xml:"SourceLocation"`
					} `xml:"Action"`
				} `xml:"OfficeTab>Group>Control"`
			} `xml:"DesktopFormFactor>ExtensionPoint"`
		} `xml:"Hosts>Host"`
		URLs []struct {
			ID    string `xml:"id,attr"`
			Value string `xml:"DefaultValue,attr"`
		} `xml:"Resources>Urls>Url"`
	} `xml:"VersionOverrides"`
}

func TestOutlookManifest(t *testing.T) {
	f := newPanelFixture(t, func(o *Options) { o.PublicURL = "https://desk.example.com/" })
	res := f.get(f.client(), "/sidebar/outlook/manifest.xml")
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/xml") {
		t.Fatalf("manifest = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var m manifestXML
	if err := xml.Unmarshal(body, &m); err != nil {
		t.Fatalf("manifest is not valid XML: %v\n%s", err, body)
	}
	const base = "https://desk.example.com"
	checks := []struct{ what, got, want string }{
		{"xsi:type", m.Type, "MailApp"},
		{"Id", m.ID, AddinID(base)},
		{"Version", m.Version, "1.0.0.0"},
		{"DefaultLocale", m.DefaultLocale, "en-US"},
		{"DisplayName", m.DisplayName.Value, "sidedesk"},
		{"IconUrl", m.IconURL.Value, base + "/sidebar/outlook/icons/icon-64.png"},
		{"Form type", m.Form.Type, "ItemRead"},
		{"SourceLocation", m.Form.SourceLocation.Value, base + "/sidebar/outlook/taskpane"},
		{"Permissions", m.Permissions, "ReadItem"},
		{"VersionOverrides", m.Overrides.Type, "VersionOverridesV1_0"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if len(m.Hosts) != 1 || m.Hosts[0].Name != "Mailbox" {
		t.Errorf("Hosts = %+v, want Mailbox", m.Hosts)
	}
	if len(m.Rule.Rules) != 1 || m.Rule.Rules[0].ItemType != "Message" || m.Rule.Rules[0].FormType != "Read" {
		t.Errorf("activation rule = %+v", m.Rule.Rules)
	}
	if len(m.Overrides.Hosts) != 1 || m.Overrides.Hosts[0].Type != "MailHost" {
		t.Fatalf("VersionOverrides hosts = %+v", m.Overrides.Hosts)
	}
	eps := m.Overrides.Hosts[0].ExtensionPoints
	if len(eps) != 1 || eps[0].Type != "MessageReadCommandSurface" || len(eps[0].Controls) != 1 ||
		eps[0].Controls[0].Type != "Button" || eps[0].Controls[0].Action.Type != "ShowTaskpane" {
		t.Fatalf("extension point = %+v", eps)
	}
	resid := eps[0].Controls[0].Action.SourceLocation.ResID
	found := false
	for _, u := range m.Overrides.URLs {
		if u.ID == resid {
			found = true
			if u.Value != base+"/sidebar/outlook/taskpane" {
				t.Errorf("task pane URL resource = %q", u.Value)
			}
		}
	}
	if !found {
		t.Errorf("ShowTaskpane's resid %q is not among the Urls resources", resid)
	}
	// The icons it names are served.
	res = f.get(f.client(), "/sidebar/outlook/icons/icon-64.png")
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" {
		t.Errorf("icon = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if AddinID("https://a.example") == AddinID("https://b.example") || AddinID(base) != AddinID(base+"/") {
		t.Error("AddinID is not a stable function of the public URL")
	}
}

// TestHTMLHeaders: every HTML answer has a CSP allowing no inline script
// and framing only by Outlook; only the task pane may load Office.js.
func TestHTMLHeaders(t *testing.T) {
	f := newPanelFixture(t)
	c := f.client()
	f.signIn(c, agentEmail)
	for _, tc := range []struct {
		path      string
		officeCDN bool
	}{
		{"/login", false},
		{"/sidebar?from=a@b.example", false},
		{"/sidebar?ticket=999", false}, // 404 page
		{"/sidebar/outlook/taskpane", true},
	} {
		cl := c
		if tc.path == "/login" {
			cl = f.client() // signed in, /login redirects to the panel
		}
		res := f.get(cl, tc.path)
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: Content-Type %q", tc.path, res.Header.Get("Content-Type"))
		}
		for _, want := range []string{"default-src 'self'", "object-src 'none'", "base-uri 'none'",
			"frame-ancestors 'self' https://outlook.office.com https://outlook.office365.com"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", tc.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline script or eval: %q", tc.path, csp)
		}
		if got := strings.Contains(csp, "https://appsforoffice.microsoft.com"); got != tc.officeCDN {
			t.Errorf("%s: Office.js CDN allowed = %v, want %v", tc.path, got, tc.officeCDN)
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", tc.path, res.Header.Get("Cache-Control"))
		}
	}
	for _, a := range []string{"htmx.min.js", "panel.css", "taskpane.js"} {
		res := f.get(c, "/sidebar/assets/"+a)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("ETag") == "" {
			t.Errorf("asset %s = %d etag %q", a, res.StatusCode, res.Header.Get("ETag"))
		}
	}
}

// TestLookupAPI: the panel's facts as JSON for a bearer token, scoped to
// the token's tenant.
func TestLookupAPI(t *testing.T) {
	f := newPanelFixture(t)
	f.deliverFile("01-globex-production-down.eml")
	tokA, hashA, _ := api.GenerateToken()
	tokB, hashB, _ := api.GenerateToken()
	if _, err := f.st.CreateToken(t.Context(), "default", "a", hashA); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateToken(t.Context(), "other", "b", hashB); err != nil {
		t.Fatal(err)
	}
	// The fields of the API's answer (docs/api.md) this test checks.
	type lookupJSON struct {
		Contacts      []struct{ ID string }
		Accounts      []struct{ Tier string }
		Opportunities []struct {
			CloseDate *string `json:"close_date"`
		}
		Ticket  *struct{ Number int64 }
		Message *struct {
			MessageID string `json:"message_id"`
		}
		RecentMessages []struct{ ID int64 } `json:"recent_messages"`
	}
	get := func(tok, q string) (int, lookupJSON) {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/lookup?"+q, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out lookupJSON
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	if code, _ := get("", "email=anna.schmidt@globex.example"); code != http.StatusUnauthorized {
		t.Errorf("no token = %d", code)
	}
	if code, _ := get(tokA, ""); code != http.StatusBadRequest {
		t.Errorf("no parameters = %d", code)
	}
	code, out := get(tokA, "email=anna.schmidt@globex.example&message_id=%3C"+annaMsg+"%3E")
	if code != http.StatusOK {
		t.Fatalf("lookup = %d", code)
	}
	if len(out.Contacts) != 2 || len(out.Accounts) != 1 || out.Accounts[0].Tier != "enterprise" ||
		len(out.Opportunities) != 2 || out.Opportunities[0].CloseDate == nil {
		t.Errorf("CRM facts = %+v", out)
	}
	if out.Ticket == nil || out.Ticket.Number != 1 || out.Message == nil || out.Message.MessageID != annaMsg || len(out.RecentMessages) != 1 {
		t.Errorf("ticket facts: ticket %+v message %+v recent %d", out.Ticket, out.Message, len(out.RecentMessages))
	}
	code, out = get(tokB, "email=anna.schmidt@globex.example&message_id="+annaMsg)
	if code != http.StatusOK || len(out.Contacts) != 0 || out.Ticket != nil || out.Message != nil {
		t.Errorf("other tenant's lookup = %d %+v", code, out)
	}
}

// TestTemplGenerated fails when the committed *_templ.go files differ from
// what `templ generate` makes of the .templ files (someone edited a view
// without regenerating). `make lint` can run it: go test -run TestTemplGenerated ./sidebar/
func TestTemplGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the templ generator")
	}
	// A copy of the views at the same place under a temporary root: templ
	// names each file relative to the root it runs from (the repository's).
	root := t.TempDir()
	dir := filepath.Join(root, "sidebar", "views")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srcs, _ := filepath.Glob(filepath.Join("views", "*.templ"))
	if len(srcs) == 0 {
		t.Fatal("no .templ files")
	}
	for _, s := range srcs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(s)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "tool", "templ", "generate", "-path", root)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("templ generate: %v\n%s", err, out)
	}
	for _, s := range srcs {
		gen := strings.TrimSuffix(filepath.Base(s), ".templ") + "_templ.go"
		want, err := os.ReadFile(filepath.Join(dir, gen))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("views", gen))
		if err != nil {
			t.Fatalf("%s is not committed: %v", gen, err)
		}
		if string(got) != string(want) {
			t.Errorf("views/%s is stale: run make generate", gen)
		}
	}
}
