package sidebar

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/google/uuid"

	"github.com/sidedesk/sidedesk/sidebar/views"
)

//go:embed assets/*
var assetFS embed.FS

// officeJS is Office.js on Microsoft's CDN. Outlook requires add-ins to
// load it from there (it cannot be vendored); the task pane's CSP allows
// this origin and no other.
const officeJS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"

// taskPaneCSP is panelCSP plus Office.js's origin for scripts (and the
// calls and frames Office.js makes to talk to its host).
const taskPaneCSP = "default-src 'self'; script-src 'self' https://appsforoffice.microsoft.com; " +
	"style-src 'self'; img-src 'self' data:; connect-src 'self' https://appsforoffice.microsoft.com; " +
	"frame-src https://appsforoffice.microsoft.com; form-action 'self'; base-uri 'none'; object-src 'none'; " +
	"frame-ancestors " + outlookAncestors

// asset serves an embedded file (htmx.min.js, panel.css, taskpane.js),
// with an ETag of its content.
func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(assetFS, "assets/"+name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(b)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// publicBase is the absolute base URL the add-in is served from: PublicURL
// or, without one, this request's scheme and host.
func (s *Server) publicBase(r *http.Request) string {
	if s.base != "" {
		return s.base
	}
	return s.origin(r)
}

// AddinID is the Outlook add-in's Id for a public URL: a name-based UUID
// (RFC 9562 section 5.5, SHA-1 in the URL namespace), so the same
// deployment keeps the same Id across restarts and two deployments differ.
func AddinID(publicURL string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(strings.TrimSuffix(publicURL, "/"))).String()
}

// manifestData fills manifestTmpl.
type manifestData struct {
	ID, Base, Origin string
}

// manifestTmpl is an Outlook add-in-only manifest (XML, schema
// appforoffice 1.1, MailApp): a read-mode task pane, for old clients via
// FormSettings and for current ones via an add-in command on the
// message-read ribbon (VersionOverrides 1.0, MessageReadCommandSurface,
// ShowTaskpane). The schema fixes the order of the elements.
var manifestTmpl = template.Must(template.New("manifest").Funcs(template.FuncMap{"x": xmlEscape}).Parse(
	`<?xml version="1.0" encoding="UTF-8"?>
<OfficeApp xmlns="http://schemas.microsoft.com/office/appforoffice/1.1"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:bt="http://schemas.microsoft.com/office/officeappbasictypes/1.0"
  xmlns:mailappor="http://schemas.microsoft.com/office/mailappversionoverrides/1.0"
  xsi:type="MailApp">
  <Id>{{x .ID}}</Id>
  <Version>1.0.0.0</Version>
  <ProviderName>sidedesk</ProviderName>
  <DefaultLocale>en-US</DefaultLocale>
  <DisplayName DefaultValue="sidedesk"/>
  <Description DefaultValue="The customer, account, deals and ticket behind each email."/>
  <IconUrl DefaultValue="{{x .Base}}/sidebar/outlook/icons/icon-64.png"/>
  <HighResolutionIconUrl DefaultValue="{{x .Base}}/sidebar/outlook/icons/icon-128.png"/>
  <SupportUrl DefaultValue="{{x .Base}}/sidebar"/>
  <AppDomains>
    <AppDomain>{{x .Origin}}</AppDomain>
  </AppDomains>
  <Hosts>
    <Host Name="Mailbox"/>
  </Hosts>
  <Requirements>
    <Sets>
      <Set Name="Mailbox" MinVersion="1.1"/>
    </Sets>
  </Requirements>
  <FormSettings>
    <Form xsi:type="ItemRead">
      <DesktopSettings>
        <SourceLocation DefaultValue="{{x .Base}}/sidebar/outlook/taskpane"/>
        <RequestedHeight>450</RequestedHeight>
      </DesktopSettings>
    </Form>
  </FormSettings>
  <Permissions>ReadItem</Permissions>
  <Rule xsi:type="RuleCollection" Mode="Or">
    <Rule xsi:type="ItemIs" ItemType="Message" FormType="Read"/>
  </Rule>
  <DisableEntityHighlighting>true</DisableEntityHighlighting>
  <VersionOverrides xmlns="http://schemas.microsoft.com/office/mailappversionoverrides" xsi:type="VersionOverridesV1_0">
    <Requirements>
      <bt:Sets DefaultMinVersion="1.3">
        <bt:Set Name="Mailbox"/>
      </bt:Sets>
    </Requirements>
    <Hosts>
      <Host xsi:type="MailHost">
        <DesktopFormFactor>
          <FunctionFile resid="sidedesk.TaskPane.Url"/>
          <ExtensionPoint xsi:type="MessageReadCommandSurface">
            <OfficeTab id="TabDefault">
              <Group id="sidedesk.Group">
                <Label resid="sidedesk.Group.Label"/>
                <Control xsi:type="Button" id="sidedesk.OpenPanel">
                  <Label resid="sidedesk.Button.Label"/>
                  <Supertip>
                    <Title resid="sidedesk.Button.Label"/>
                    <Description resid="sidedesk.Button.Tooltip"/>
                  </Supertip>
                  <Icon>
                    <bt:Image size="16" resid="sidedesk.Icon.16"/>
                    <bt:Image size="32" resid="sidedesk.Icon.32"/>
                    <bt:Image size="80" resid="sidedesk.Icon.80"/>
                  </Icon>
                  <Action xsi:type="ShowTaskpane">
                    <SourceLocation resid="sidedesk.TaskPane.Url"/>
                  </Action>
                </Control>
              </Group>
            </OfficeTab>
          </ExtensionPoint>
        </DesktopFormFactor>
      </Host>
    </Hosts>
    <Resources>
      <bt:Images>
        <bt:Image id="sidedesk.Icon.16" DefaultValue="{{x .Base}}/sidebar/outlook/icons/icon-16.png"/>
        <bt:Image id="sidedesk.Icon.32" DefaultValue="{{x .Base}}/sidebar/outlook/icons/icon-32.png"/>
        <bt:Image id="sidedesk.Icon.80" DefaultValue="{{x .Base}}/sidebar/outlook/icons/icon-80.png"/>
      </bt:Images>
      <bt:Urls>
        <bt:Url id="sidedesk.TaskPane.Url" DefaultValue="{{x .Base}}/sidebar/outlook/taskpane"/>
      </bt:Urls>
      <bt:ShortStrings>
        <bt:String id="sidedesk.Group.Label" DefaultValue="sidedesk"/>
        <bt:String id="sidedesk.Button.Label" DefaultValue="Customer"/>
      </bt:ShortStrings>
      <bt:LongStrings>
        <bt:String id="sidedesk.Button.Tooltip" DefaultValue="Show the customer, account, deals and ticket behind this email."/>
      </bt:LongStrings>
    </Resources>
  </VersionOverrides>
</OfficeApp>
`))

func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// outlookManifest serves the add-in manifest for this deployment. Outlook
// only accepts https URLs in it: configure PublicURL as https.
func (s *Server) outlookManifest(w http.ResponseWriter, r *http.Request) {
	base := s.publicBase(r)
	var buf bytes.Buffer
	if err := manifestTmpl.Execute(&buf, manifestData{ID: AddinID(base), Base: base, Origin: s.origin(r)}); err != nil {
		s.htmlError(w, r, http.StatusInternalServerError, "The manifest could not be made.", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="sidedesk-outlook-manifest.xml"`)
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	_, _ = w.Write(buf.Bytes())
}

// outlookTaskPane serves the page Outlook opens in the task pane. It needs
// no session: it only reads the item and navigates to /sidebar, which
// asks for a sign-in when there is none.
func (s *Server) outlookTaskPane(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := views.TaskPane(views.Page{Title: "sidedesk", AssetBase: assetBase}, officeJS).Render(r.Context(), &buf); err != nil {
		s.htmlError(w, r, http.StatusInternalServerError, "The task pane could not be rendered.", err)
		return
	}
	htmlHeaders(w.Header(), taskPaneCSP)
	_, _ = w.Write(buf.Bytes())
}

// outlookIcon serves the add-in's icon in the sizes the manifest names,
// drawn on the fly (a blue tile with a white side bar: the sidebar).
func (s *Server) outlookIcon(w http.ResponseWriter, r *http.Request) {
	n, ok := strings.CutPrefix(r.PathValue("name"), "icon-")
	n, ok2 := strings.CutSuffix(n, ".png")
	size, err := strconv.Atoi(n)
	if !ok || !ok2 {
		size = 0
	}
	switch size {
	case 16, 32, 64, 80, 128:
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.NotFound(w, r)
		return
	}
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	blue := color.NRGBA{0x09, 0x69, 0xda, 0xff}
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	for y := range size {
		for x := range size {
			c := blue
			if x >= size*5/8 && x < size*7/8 && y >= size/8 && y < size*7/8 {
				c = white
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		s.htmlError(w, r, http.StatusInternalServerError, "icon", err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(buf.Bytes())
}
