package calendar

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReadCalendarData reads multistatus answers as servers write them:
// any namespace prefixes, CDATA, entities, objects that failed (404
// propstat or response status) and no calendar-data at all.
func TestReadCalendarData(t *testing.T) {
	tests := []struct {
		name    string
		xml     string
		want    []string
		wantErr bool
	}{
		{"radicale style", `<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><response><href>/a/b/1.ics</href><propstat><prop><C:calendar-data>BEGIN:VCALENDAR&#13;
X:a&amp;b&lt;c
END:VCALENDAR</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`,
			[]string{"BEGIN:VCALENDAR\r\nX:a&b<c\nEND:VCALENDAR"}, false},
		{"other prefixes, CDATA, a 404 propstat and a 404 response", `<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
<d:response><d:href>/1</d:href>
 <d:propstat><d:prop><cal:calendar-data><![CDATA[ONE<]]></cal:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
 <d:propstat><d:prop><d:getlastmodified/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>
<d:response><d:href>/2</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>
<d:response><d:href>/3</d:href><d:propstat><d:prop><cal:calendar-data>LOST</cal:calendar-data></d:prop><d:status>HTTP/1.1 403 Forbidden</d:status></d:propstat></d:response>
<d:response><d:href>/4</d:href><d:propstat><d:prop><cal:calendar-data>TWO</cal:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>`, []string{"ONE<", "TWO"}, false},
		{"calendar-data of another namespace is not read", `<multistatus xmlns="DAV:"><response><propstat><prop><calendar-data xmlns="urn:x">X</calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`,
			nil, false},
		{"empty multistatus", `<multistatus xmlns="DAV:"/>`, nil, false},
		{"not a multistatus", `<html><body>hi</body></html>`, nil, true},
		{"truncated", `<multistatus xmlns="DAV:"><response><propstat><prop>`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := readCalendarData(strings.NewReader(tc.xml), func(d []byte) { got = append(got, string(d)) })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCalDAVVersion: the version is a digest of each calendar's CTag, or of
// its sync-token on a server without CTags, or "" when a calendar has
// neither; it changes when a token changes and quotes nothing it was built
// from.
func TestCalDAVVersion(t *testing.T) {
	var mu sync.Mutex
	props := map[string]string{} // property -> value for every calendar; absent: 404
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != "PROPFIND" || r.Header.Get("Depth") != "0" {
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		name := propCTag
		if !strings.Contains(string(body), propCTag) {
			name = propSyncToken
		}
		asked = append(asked, name)
		w.WriteHeader(http.StatusMultiStatus)
		elem := "CS:getctag"
		if name == propSyncToken {
			elem = "sync-token"
		}
		status := "HTTP/1.1 200 OK"
		v, ok := props[name]
		if !ok {
			status = "HTTP/1.1 404 Not Found"
		}
		fmt.Fprintf(w, `<multistatus xmlns="DAV:" xmlns:CS="http://calendarserver.org/ns/"><response><href>%s</href><propstat><prop><%s>%s</%[2]s></prop><status>%[4]s</status></propstat></response></multistatus>`,
			r.URL.Path, elem, v, status)
	}))
	defer srv.Close()
	src, err := NewCalDAV(CalDAVOptions{URL: srv.URL + "/dav/", Calendars: []string{"cal-one/", "/dav/cal-two/"}})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		props   map[string]string
		asked   []string
		empty   bool
		changed bool
	}{
		{"ctag", map[string]string{propCTag: `"ctag-1"`}, []string{propCTag, propCTag}, false, true},
		{"same ctag", map[string]string{propCTag: `"ctag-1"`}, []string{propCTag, propCTag}, false, false},
		{"new ctag", map[string]string{propCTag: `"ctag-2"`}, []string{propCTag, propCTag}, false, true},
		{"no ctag: sync-token from then on", map[string]string{propSyncToken: "http://x/sync/1"}, []string{propCTag, propSyncToken, propSyncToken}, false, true},
		{"same sync-token", map[string]string{propSyncToken: "http://x/sync/1"}, []string{propSyncToken, propSyncToken}, false, false},
		{"neither", map[string]string{}, []string{propSyncToken}, true, true},
	}
	prev := ""
	for _, st := range steps {
		mu.Lock()
		props, asked = st.props, nil
		mu.Unlock()
		v, err := src.Version(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		mu.Lock()
		gotAsked := asked
		mu.Unlock()
		if (v == "") != st.empty || (v != prev) != st.changed || !slices.Equal(gotAsked, st.asked) {
			t.Errorf("%s: version %q (previous %q), asked %v, want empty %v, changed %v, asked %v", st.name, v, prev, gotAsked, st.empty, st.changed, st.asked)
		}
		for _, leak := range []string{"ctag", "sync", "cal-"} {
			if strings.Contains(v, leak) {
				t.Errorf("%s: version %q quotes %q", st.name, v, leak)
			}
		}
		prev = v
	}
}

// TestCalDAVDiscovery: a server whose calendar home set is not the
// principal, answering with absolute hrefs: the calendars that can hold
// VEVENTs are found, with the CTags the discovery PROPFIND returned; Version
// asks only the calendar without one then, and every calendar once the
// list comes from the cache.
func TestCalDAVDiscovery(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	var srvURL string
	ok := func(prop string) string {
		return `<propstat><prop>` + prop + `</prop><status>HTTP/1.1 200 OK</status></propstat>`
	}
	cal := func(path, comps, ctag string) string {
		r := `<response><href>` + srvURL + path + `</href>` + ok(`<resourcetype><collection/><C:calendar/></resourcetype>`+comps)
		if ctag != "" {
			r += ok(`<CS:getctag>` + ctag + `</CS:getctag>`)
		} else {
			r += `<propstat><prop><CS:getctag/></prop><status>HTTP/1.1 404 Not Found</status></propstat>`
		}
		return r + `</response>`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Method+" "+r.URL.Path+" "+r.Header.Get("Depth"))
		mu.Unlock()
		if r.URL.Path == "/refuse/" && r.Header.Get("Depth") == "1" {
			http.Error(w, "Depth 1 not allowed here", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusMultiStatus)
		io.WriteString(w, `<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/">`)
		switch r.URL.Path {
		case "/refuse":
			io.WriteString(w, `<response><href>/refuse/</href>`+ok(`<current-user-principal><href>/principals/u/</href></current-user-principal>`)+`</response>`)
		case "/dav", "/dav/": // go-webdav asks for the endpoint without its slash
			io.WriteString(w, `<response><href>/dav/</href>`+ok(`<current-user-principal><href>/principals/u/</href></current-user-principal>`)+`</response>`)
		case "/principals/u/":
			io.WriteString(w, `<response><href>/principals/u/</href>`+ok(`<C:calendar-home-set><href>`+srvURL+`/cals/u/</href></C:calendar-home-set><resourcetype><collection/><principal/></resourcetype>`)+`</response>`)
		case "/cals/u/":
			io.WriteString(w, `<response><href>/cals/u/</href>`+ok(`<resourcetype><collection/></resourcetype>`)+`</response>`+
				cal("/cals/u/work/", `<C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/></C:supported-calendar-component-set>`, `"w1"`)+
				cal("/cals/u/tasks/", `<C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>`, `"t1"`)+
				cal("/cals/u/plain/", ``, ``)+
				`<response><href>/cals/u/contacts/</href>`+ok(`<resourcetype><collection/></resourcetype>`)+`</response>`)
		case "/cals/u/work/", "/cals/u/plain/":
			io.WriteString(w, `<response><href>`+r.URL.Path+`</href>`+ok(`<CS:getctag>"c1"</CS:getctag>`)+`</response>`)
		}
		io.WriteString(w, `</multistatus>`)
	}))
	defer srv.Close()
	srvURL = srv.URL
	src, err := NewCalDAV(CalDAVOptions{URL: srv.URL + "/dav/"})
	if err != nil {
		t.Fatal(err)
	}
	hc, client, err := src.client(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	paths, tokens, err := src.calendars(t.Context(), hc, client)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/cals/u/work/", "/cals/u/plain/"}; !slices.Equal(paths, want) {
		t.Errorf("calendars %q, want %q", paths, want)
	}
	if len(tokens) != 1 || tokens["/cals/u/work/"] != (changeTok{propCTag, `"w1"`}) {
		t.Errorf("tokens %v", tokens)
	}
	steps := []struct {
		name  string
		asked []string
	}{
		// The URL is asked first; its answer names the principal.
		{"a discovery reads the CTags", []string{"PROPFIND /dav/ 1", "PROPFIND /principals/u/ 1", "PROPFIND /cals/u/ 1", "PROPFIND /cals/u/plain/ 0"}},
		{"cached discovery: each calendar is asked", []string{"PROPFIND /cals/u/work/ 0", "PROPFIND /cals/u/plain/ 0"}},
	}
	if src, err = NewCalDAV(CalDAVOptions{URL: srv.URL + "/dav/"}); err != nil {
		t.Fatal(err)
	}
	// Configured as the calendar home: one PROPFIND finds the calendars.
	home, err := NewCalDAV(CalDAVOptions{URL: srv.URL + "/cals/u/"})
	if err != nil {
		t.Fatal(err)
	}
	// A URL that refuses Depth: 1 (here it answers no multistatus):
	// current-user-principal is asked the standard way.
	refusing, err := NewCalDAV(CalDAVOptions{URL: srv.URL + "/refuse/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		name  string
		src   *CalDAVSource
		asked []string
	}{
		{"the URL is the home", home, []string{"PROPFIND /cals/u/ 1", "PROPFIND /cals/u/plain/ 0"}},
		{"the URL refuses Depth 1", refusing, []string{"PROPFIND /refuse/ 1", "PROPFIND /refuse 0", "PROPFIND /principals/u/ 1", "PROPFIND /cals/u/ 1", "PROPFIND /cals/u/plain/ 0"}},
	} {
		mu.Lock()
		asked = nil
		mu.Unlock()
		if v, err := st.src.Version(t.Context()); err != nil || v == "" {
			t.Fatalf("%s: version %q, %v", st.name, v, err)
		}
		mu.Lock()
		if !slices.Equal(asked, st.asked) {
			t.Errorf("%s: asked %q, want %q", st.name, asked, st.asked)
		}
		mu.Unlock()
	}
	for _, st := range steps {
		mu.Lock()
		asked = nil
		mu.Unlock()
		if v, err := src.Version(t.Context()); err != nil || v == "" {
			t.Fatalf("%s: version %q, %v", st.name, v, err)
		}
		mu.Lock()
		if !slices.Equal(asked, st.asked) {
			t.Errorf("%s: asked %q, want %q", st.name, asked, st.asked)
		}
		mu.Unlock()
	}
}

// FuzzReadCalendarData: any answer, however broken, yields an error or the
// calendar-data of 200 propstats, never a panic; text outside a
// calendar-data element is never passed on.
func FuzzReadCalendarData(f *testing.F) {
	f.Add(`<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><response><propstat><prop><C:calendar-data>BEGIN:VCALENDAR&#13;
END:VCALENDAR</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`)
	f.Add(`<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:response><d:propstat><d:prop><c:calendar-data><![CDATA[X]]></c:calendar-data></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response></d:multistatus>`)
	f.Add(`<multistatus xmlns="DAV:"><response><propstat><prop>`)
	f.Fuzz(func(t *testing.T, doc string) {
		_ = readCalendarData(strings.NewReader(doc), func(d []byte) {
			if strings.Contains(string(d), "HTTP/1.1") && !strings.Contains(doc, "calendar-data") {
				t.Errorf("data %q without a calendar-data element", d)
			}
		})
	})
}

// TestDAVErrorsSanitized: a request answered with anything but 207 fails
// with the status alone, never the answer's text (which may quote events).
func TestDAVErrorsSanitized(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "SUMMARY:secret-canary", http.StatusInternalServerError)
	}))
	defer srv.Close()
	hc := srv.Client()
	errs := map[string]error{
		"calendar query": queryCalendar(t.Context(), hc, NewServerGates(0), srv.URL, calendarQueryBody(time.Now()), func([]byte) {
			t.Error("data passed on from a failed query")
		}),
	}
	_, errs["change token"] = propfindToken(t.Context(), hc, srv.URL, nsCalServer, propCTag)
	for op, err := range errs {
		if err == nil || err.Error() != "calendar: caldav: "+op+": server answered HTTP 500" {
			t.Errorf("%s: %v", op, err)
		}
	}
}
