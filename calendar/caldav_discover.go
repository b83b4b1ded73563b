package calendar

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"
)

// changeTok is a calendar's change token: the property it came from and its
// value.
type changeTok struct{ name, value string }

// calendars returns the configured calendar paths, or those discovered in
// the calendar home set (RFC 4791 section 6.2.1), cached for discoveryTTL.
// A discovery also returns the calendars' CTags, read in the same PROPFIND
// (nil when the list came from the configuration or the cache).
func (c *CalDAVSource) calendars(ctx context.Context, hc webdav.HTTPClient, client *caldav.Client) ([]string, map[string]changeTok, error) {
	if len(c.opts.Calendars) > 0 {
		return c.opts.Calendars, nil, nil
	}
	c.mu.Lock()
	if c.discovered != nil && time.Since(c.discovAt) < discoveryTTL {
		d := c.discovered
		c.mu.Unlock()
		return d, nil, nil
	}
	c.mu.Unlock()
	paths, tokens, err := c.discover(ctx, client, hc)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	c.discovered, c.discovAt = paths, time.Now()
	c.mu.Unlock()
	return paths, tokens, nil
}

// discover finds the calendars (RFC 4791 section 6.2.1). The configured URL
// is documented as the principal or the calendar home, so it is asked
// first, in one Depth: 1 PROPFIND that also returns the calendars and their
// CTags when it is the home (Radicale's principal is its own home): one
// request instead of three. Otherwise the home set, or the
// current-user-principal (RFC 5397) when the URL is neither, is followed.
func (c *CalDAVSource) discover(ctx context.Context, client *caldav.Client, hc webdav.HTTPClient) ([]string, map[string]changeTok, error) {
	base, err := url.Parse(c.opts.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("calendar: caldav: URL: %w", err)
	}
	start := base.EscapedPath()
	if start == "" {
		start = "/"
	}
	ms, err := c.propfindCalendars(ctx, hc, start)
	if err != nil {
		// Some servers refuse Depth: 1 where the URL is their root; ask
		// for the principal the standard way.
		ms = &discoveryAnswer{}
	}
	home := ms.homeSet(start)
	if paths, tokens := ms.calendars(start); (home == "" && len(paths) > 0) || (home != "" && samePath(home, start)) {
		// The URL is the home: a principal that is its own home, or a
		// home (which has no home set of its own) with calendars in it.
		return paths, tokens, nil
	}
	if home == "" {
		principal := ms.principal(start)
		if principal == "" {
			if principal, err = client.FindCurrentUserPrincipal(ctx); err != nil {
				return nil, nil, sanitize("find principal", err)
			}
		}
		if ms, err = c.propfindCalendars(ctx, hc, principal); err != nil {
			return nil, nil, sanitize("find calendar home", err)
		}
		if home = ms.homeSet(principal); home == "" {
			return nil, nil, &sanitizedError{msg: "calendar: caldav: find calendar home: no calendar-home-set"}
		}
		if samePath(home, principal) {
			paths, tokens := ms.calendars(home)
			return paths, tokens, nil
		}
	}
	if ms, err = c.propfindCalendars(ctx, hc, home); err != nil {
		return nil, nil, sanitize("find calendars", err)
	}
	paths, tokens := ms.calendars(home)
	return paths, tokens, nil
}

// discoveryAnswer is the part of a multistatus answer to the discovery
// PROPFIND that is read.
type discoveryAnswer struct {
	Responses []struct {
		Href      string `xml:"DAV: href"`
		Propstats []struct {
			Prop struct {
				HomeSet struct {
					Href []string `xml:"DAV: href"`
				} `xml:"urn:ietf:params:xml:ns:caldav calendar-home-set"`
				Principal struct {
					Href string `xml:"DAV: href"`
				} `xml:"DAV: current-user-principal"`
				ResourceType struct {
					Calendar *struct{} `xml:"urn:ietf:params:xml:ns:caldav calendar"`
				} `xml:"DAV: resourcetype"`
				Components struct {
					Comp []compName `xml:"urn:ietf:params:xml:ns:caldav comp"`
				} `xml:"urn:ietf:params:xml:ns:caldav supported-calendar-component-set"`
				CTag string `xml:"http://calendarserver.org/ns/ getctag"`
			} `xml:"DAV: prop"`
			Status string `xml:"DAV: status"`
		} `xml:"DAV: propstat"`
	} `xml:"DAV: response"`
}

// compName is a C:comp element of supported-calendar-component-set.
type compName struct {
	Name string `xml:"name,attr"`
}

const discoveryBody = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"><D:prop>` +
	`<D:current-user-principal/><C:calendar-home-set/><D:resourcetype/><C:supported-calendar-component-set/><CS:getctag/></D:prop></D:propfind>`

// propfindCalendars sends the discovery PROPFIND (RFC 4918 section 9.1,
// Depth: 1) to the collection at path.
func (c *CalDAVSource) propfindCalendars(ctx context.Context, hc webdav.HTTPClient, path string) (*discoveryAnswer, error) {
	u, err := c.calendarURL(path)
	if err != nil {
		return nil, err
	}
	resp, err := davDo(ctx, hc, "PROPFIND", u, "1", discoveryBody)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ms discoveryAnswer
	if err := xml.NewDecoder(io.LimitReader(resp.Body, maxQueryAnswer)).Decode(&ms); err != nil {
		return nil, err
	}
	return &ms, nil
}

// homeSet returns the calendar-home-set of the collection at path, "" when
// the answer has none.
func (ms *discoveryAnswer) homeSet(path string) string {
	for _, r := range ms.Responses {
		if !samePath(r.Href, path) {
			continue
		}
		for _, ps := range r.Propstats {
			if isStatusOK(ps.Status) && len(ps.Prop.HomeSet.Href) > 0 {
				return hrefPath(ps.Prop.HomeSet.Href[0])
			}
		}
	}
	return ""
}

// principal returns the current-user-principal (RFC 5397) given with the
// collection at path, "" when the answer has none.
func (ms *discoveryAnswer) principal(path string) string {
	for _, r := range ms.Responses {
		if !samePath(r.Href, path) {
			continue
		}
		for _, ps := range r.Propstats {
			if isStatusOK(ps.Status) && ps.Prop.Principal.Href != "" {
				return hrefPath(ps.Prop.Principal.Href)
			}
		}
	}
	return ""
}

// calendars returns the members of home that are calendars able to hold
// VEVENTs (no supported-calendar-component-set: any component), and the
// CTags of those that have one.
func (ms *discoveryAnswer) calendars(home string) ([]string, map[string]changeTok) {
	paths := []string{}
	tokens := map[string]changeTok{}
	for _, r := range ms.Responses {
		if samePath(r.Href, home) {
			continue
		}
		isCal, events, ctag := false, true, ""
		for _, ps := range r.Propstats {
			if !isStatusOK(ps.Status) {
				continue
			}
			p := ps.Prop
			isCal = isCal || p.ResourceType.Calendar != nil
			if comps := p.Components.Comp; len(comps) > 0 {
				events = slices.ContainsFunc(comps, func(c compName) bool { return strings.EqualFold(c.Name, ical.CompEvent) })
			}
			if p.CTag != "" {
				ctag = p.CTag
			}
		}
		if !isCal || !events {
			continue
		}
		path := hrefPath(r.Href)
		paths = append(paths, path)
		if ctag != "" {
			tokens[path] = changeTok{propCTag, ctag}
		}
	}
	return paths, tokens
}

// hrefPath is the escaped path of an href (RFC 4918 section 8.3: a path or
// an absolute URL).
func hrefPath(href string) string {
	href = strings.TrimSpace(href)
	u, err := url.Parse(href)
	if err != nil {
		return href
	}
	return u.EscapedPath()
}

// samePath compares two hrefs by their decoded paths, ignoring a trailing
// slash.
func samePath(a, b string) bool {
	norm := func(s string) string {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil {
			s = u.Path
		}
		return strings.TrimSuffix(s, "/")
	}
	return norm(a) == norm(b)
}
