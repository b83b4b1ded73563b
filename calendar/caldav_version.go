package calendar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"

	"github.com/emersion/go-webdav"
)

// Change tokens of a calendar collection: the CalendarServer CTag, which
// changes whenever a member changes (caldav-ctag-02, offered by Radicale,
// SabreDAV/Nextcloud, iCloud, Google, DAViCal), and the RFC 6578 section 4
// DAV:sync-token, for servers without a CTag.
const (
	propCTag      = "getctag"
	propSyncToken = "sync-token"
	nsCalServer   = "http://calendarserver.org/ns/"
	nsDAV         = "DAV:"
)

// Version implements VersionedSource: a digest of the change token (CTag,
// else sync-token) of every calendar the source reads, so the periodic sync
// can skip unchanged calendars: one Depth: 0 PROPFIND per calendar, or none
// when the calendars were just discovered (discovery reads the CTags).
// The digest carries no href or UID (only it is stored); "" when a calendar
// has neither token.
func (c *CalDAVSource) Version(ctx context.Context) (string, error) {
	hc, client, err := c.client(ctx)
	if err != nil {
		return "", err
	}
	cals, tokens, err := c.calendars(ctx, hc, client)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	// The agent's zone decides how floating and all-day times are read:
	// a new zone must re-read the events.
	fmt.Fprintf(h, "caldav-version-1\x00%s\n", c.opts.Location)
	for _, cal := range cals {
		tok, ok := tokens[cal]
		if !ok {
			u, err := c.calendarURL(cal)
			if err != nil {
				return "", err
			}
			if tok.name, tok.value, err = c.changeToken(ctx, hc, u); err != nil {
				return "", err
			}
		}
		if tok.value == "" {
			return "", nil
		}
		fmt.Fprintf(h, "%s\x00%s\x00%s\n", cal, tok.name, tok.value)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// changeToken asks a calendar for its CTag, and for its sync-token when it
// has none (asking for both at once would make servers that compute them
// from every member, such as Radicale, do that work twice). It returns the
// property name and value, or "" when the calendar has neither.
func (c *CalDAVSource) changeToken(ctx context.Context, hc webdav.HTTPClient, calURL string) (string, string, error) {
	c.mu.Lock()
	noCTag := c.noCTag
	c.mu.Unlock()
	if !noCTag {
		tok, err := propfindToken(ctx, hc, calURL, nsCalServer, propCTag)
		if err != nil || tok != "" {
			return propCTag, tok, err
		}
		c.mu.Lock()
		c.noCTag = true
		c.mu.Unlock()
	}
	tok, err := propfindToken(ctx, hc, calURL, nsDAV, propSyncToken)
	return propSyncToken, tok, err
}

// multistatus is the part of an RFC 4918 section 14.16 multistatus answer
// to a change-token PROPFIND that is read.
type multistatus struct {
	Responses []struct {
		Propstats []struct {
			Prop struct {
				CTag      string `xml:"http://calendarserver.org/ns/ getctag"`
				SyncToken string `xml:"DAV: sync-token"`
			} `xml:"DAV: prop"`
			Status string `xml:"DAV: status"`
		} `xml:"DAV: propstat"`
	} `xml:"DAV: response"`
}

// maxPropfindAnswer bounds the answer read for one change token.
const maxPropfindAnswer = 1 << 20

// propfindToken reads one change-token property of the collection at u with
// a Depth: 0 PROPFIND (RFC 4918 section 9.1); "" when the server does not
// have it.
func propfindToken(ctx context.Context, hc webdav.HTTPClient, u, ns, name string) (string, error) {
	body := `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<D:propfind xmlns:D="DAV:" xmlns:X="` + ns + `"><D:prop><X:` + name + `/></D:prop></D:propfind>`
	resp, err := davDo(ctx, hc, "PROPFIND", u, "0", body)
	if err != nil {
		return "", sanitize("change token", err)
	}
	defer resp.Body.Close()
	var ms multistatus
	if err := xml.NewDecoder(io.LimitReader(resp.Body, maxPropfindAnswer)).Decode(&ms); err != nil {
		return "", sanitize("change token", err)
	}
	for _, r := range ms.Responses {
		for _, ps := range r.Propstats {
			if !isStatusOK(ps.Status) {
				continue
			}
			if v := ps.Prop.CTag + ps.Prop.SyncToken; v != "" {
				return v, nil
			}
		}
	}
	return "", nil
}

// isStatusOK reports whether an RFC 4918 status line ("HTTP/1.1 200 OK")
// says 200.
func isStatusOK(status string) bool {
	var proto string
	var code int
	_, err := fmt.Sscanf(status, "%s %d", &proto, &code)
	return err == nil && code == http.StatusOK
}
