package calendar

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
)

// eventProps are the only VEVENT properties asked for (RFC 4791 section
// 9.6.1 partial retrieval). Servers that ignore the request (Radicale 3.1)
// send whole events; the rest is dropped on read in busyFromObject.
var eventProps = []string{
	ical.PropDateTimeStart, ical.PropDateTimeEnd, ical.PropDuration,
	ical.PropRecurrenceRule, ical.PropRecurrenceDates, ical.PropExceptionDates,
	ical.PropRecurrenceID, ical.PropTransparency, ical.PropStatus,
}

const nsCalDAV = "urn:ietf:params:xml:ns:caldav"

// calendarQueryBody is an RFC 4791 section 7.8 calendar-query for the
// VEVENTs with an instance that ends after from, asking for calendar-data
// alone: no getetag or getlastmodified, which cost the server work per
// object and are not used. The busy time is cut to the window on read.
//
// The time-range (section 9.9) has a start and no end on purpose: Radicale
// answers such a range from the time span it caches for every object,
// while a range with an end makes it parse and expand in Python every
// recurring series that started before the window and goes on after it
// (about 10 ms each with a VTIMEZONE that starts in 1970, as clients send
// them); a weekly meeting that has been running for years is such a
// series. The price is the few events further ahead than the window, which
// are dropped on read. Servers with an index (SabreDAV, Google) answer
// both forms from it.
func calendarQueryBody(from time.Time) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<C:calendar-query xmlns:D="DAV:" xmlns:C="` + nsCalDAV + `"><D:prop><C:calendar-data>` +
		`<C:comp name="VCALENDAR"><C:comp name="VEVENT">`)
	for _, p := range eventProps {
		b.WriteString(`<C:prop name="` + p + `"/>`)
	}
	b.WriteString(`</C:comp><C:comp name="VTIMEZONE"><C:allprop/><C:allcomp/></C:comp></C:comp>` +
		`</C:calendar-data></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">` +
		`<C:time-range start="` + from.UTC().Format("20060102T150405Z") + `"/>` +
		`</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`)
	return b.String()
}

// maxQueryAnswer bounds the answer to one calendar-query (256 MiB).
const maxQueryAnswer = 256 << 20

// queryCalendar sends the calendar-query body to the calendar at u and
// calls fn with the calendar-data of every object in the answer (RFC 4918
// section 13 multistatus, read as a stream: a response's data is passed on
// when its propstat says 200). The data slice is reused after fn returns.
func queryCalendar(ctx context.Context, hc webdav.HTTPClient, gates *ServerGates, u, body string, fn func(data []byte)) error {
	resp, err := davDo(ctx, hc, "REPORT", u, "1", body)
	if err != nil {
		return sanitize("calendar query", err)
	}
	defer resp.Body.Close()
	// The answer is read whole before it is parsed: the server's slot (see
	// ServerGates) is freed as soon as the bytes are here, not after our
	// recurrence expansion.
	var buf bytes.Buffer
	if resp.ContentLength > 0 && resp.ContentLength <= maxQueryAnswer {
		buf.Grow(int(resp.ContentLength))
	}
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxQueryAnswer))
	resp.Body.Close()
	if err != nil {
		return sanitize("calendar query", err)
	}
	done, err := gates.parsing(ctx)
	if err != nil {
		return sanitize("calendar query", err)
	}
	defer done()
	if err := readCalendarData(&buf, fn); err != nil {
		return sanitize("calendar query", err)
	}
	return nil
}

// readCalendarData streams a multistatus document and calls fn with the
// C:calendar-data text of every DAV:propstat whose DAV:status is 200.
func readCalendarData(r io.Reader, fn func(data []byte)) error {
	d := xml.NewDecoder(r)
	var (
		data, status   []byte
		inData, inStat bool
		sawMultistatus bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if !sawMultistatus {
				return errors.New("calendar: caldav: no multistatus in the answer")
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == nsDAV && t.Name.Local == "multistatus":
				sawMultistatus = true
			case t.Name.Space == nsDAV && t.Name.Local == "propstat":
				data, status = data[:0], status[:0]
			case t.Name.Space == nsCalDAV && t.Name.Local == "calendar-data":
				inData = true
			case t.Name.Space == nsDAV && t.Name.Local == "status":
				inStat = true
			}
		case xml.CharData:
			if inData {
				data = append(data, t...)
			} else if inStat {
				status = append(status, t...)
			}
		case xml.EndElement:
			switch {
			case t.Name.Space == nsCalDAV && t.Name.Local == "calendar-data":
				inData = false
			case t.Name.Space == nsDAV && t.Name.Local == "status":
				inStat = false
			case t.Name.Space == nsDAV && t.Name.Local == "propstat":
				if len(data) > 0 && isStatusOK(string(status)) {
					fn(data)
				}
				data, status = data[:0], status[:0]
			}
		}
	}
}
