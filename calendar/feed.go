package calendar

import (
	"bytes"
	"fmt"
	"time"

	"github.com/emersion/go-ical"
)

const icalUTC = "20060102T150405Z"

// encodeFreeBusy renders an RFC 5545 VCALENDAR holding one VFREEBUSY
// (section 3.6.4, "published busy time" form): DTSTAMP, UID, DTSTART and
// DTEND bounding the published window, and one FREEBUSY;FBTYPE=BUSY
// property per busy period (section 3.8.2.6), which keeps every content
// line under the 75 octets of section 3.1 without folding. The UID is
// derived from the feed token, so it names nobody.
func encodeFreeBusy(token string, now time.Time, window [2]time.Time, busy []Interval) ([]byte, error) {
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//sidedesk//free-busy//EN")
	cal.Props.SetText(ical.PropMethod, "PUBLISH")

	fb := ical.NewComponent(ical.CompFreeBusy)
	fb.Props.SetText(ical.PropUID, token+"@sidedesk")
	fb.Props.SetDateTime(ical.PropDateTimeStamp, now.UTC())
	fb.Props.SetDateTime(ical.PropDateTimeStart, window[0].UTC())
	fb.Props.SetDateTime(ical.PropDateTimeEnd, window[1].UTC())
	for _, iv := range busy {
		p := ical.NewProp(ical.PropFreeBusy)
		p.Params.Set(ical.ParamFreeBusyType, "BUSY")
		p.Value = iv.Start.UTC().Format(icalUTC) + "/" + iv.End.UTC().Format(icalUTC)
		fb.Props.Add(p)
	}
	cal.Children = append(cal.Children, fb)

	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return nil, fmt.Errorf("calendar: encode feed: %w", err)
	}
	return buf.Bytes(), nil
}
