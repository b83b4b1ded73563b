// Package caltest builds calendar fixtures shared by the calendar tests and
// the calbench program: generated agents' calendars.
package caltest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Event builds one VCALENDAR object: props are VEVENT content lines (after
// the UID), extra are whole components appended (overrides, VTIMEZONEs).
func Event(uid string, props []string, extra ...string) []byte {
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//sidedesk test//EN\r\n")
	for _, e := range extra {
		if strings.HasPrefix(e, "BEGIN:VTIMEZONE") {
			b.WriteString(e)
		}
	}
	b.WriteString("BEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20260101T000000Z\r\n")
	for _, p := range props {
		b.WriteString(p + "\r\n")
	}
	b.WriteString("END:VEVENT\r\n")
	for _, e := range extra {
		if !strings.HasPrefix(e, "BEGIN:VTIMEZONE") {
			b.WriteString(e)
		}
	}
	b.WriteString("END:VCALENDAR\r\n")
	return []byte(b.String())
}

// vtimezones are the VTIMEZONE components that calendar clients send with
// events in the zones GenerateCalendar uses (RFC 5545 section 3.6.5 requires
// one for every TZID). Without them Radicale (vobject) builds one from pytz
// on the first read of each object, ~100 ms of CPU per object.
var vtimezones = map[string]string{
	"Europe/Berlin": "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n" +
		"BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nTZNAME:CET\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n" +
		"BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nTZNAME:CEST\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\n" +
		"END:VTIMEZONE\r\n",
	"America/New_York": "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n" +
		"BEGIN:STANDARD\r\nDTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11\r\nTZNAME:EST\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n" +
		"BEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3\r\nTZNAME:EDT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n" +
		"END:VTIMEZONE\r\n",
}

// GenerateCalendar returns n event objects around start (a quarter weekly
// recurring, the rest single events over the next 30 days in zone tz, with
// its VTIMEZONE as clients send it), keyed by object file name; seed makes
// it reproducible.
func GenerateCalendar(seed uint64, n int, start time.Time, tz string) map[string][]byte {
	r := rand.New(rand.NewPCG(seed, 42))
	out := make(map[string][]byte, n)
	loc, _ := time.LoadLocation(tz)
	for i := range n {
		uid := fmt.Sprintf("gen-%d-%d", seed, i)
		day := start.In(loc).AddDate(0, 0, r.IntN(30))
		s := time.Date(day.Year(), day.Month(), day.Day(), 8+r.IntN(9), 15*r.IntN(4), 0, 0, loc)
		props := []string{
			"SUMMARY:Meeting " + uid,
			"DESCRIPTION:Agenda of " + uid,
			"DTSTART;TZID=" + tz + ":" + s.Format("20060102T150405"),
			"DTEND;TZID=" + tz + ":" + s.Add(time.Duration(15*(1+r.IntN(8)))*time.Minute).Format("20060102T150405"),
		}
		if i%4 == 0 {
			props = append(props, "RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE;TZID="+tz+":"+s.AddDate(0, 0, 7).Format("20060102T150405"))
		}
		var extra []string
		if vtz, ok := vtimezones[tz]; ok {
			extra = append(extra, vtz)
		}
		out[uid+".ics"] = Event(uid, props, extra...)
	}
	return out
}

// SeedFunc writes one agent's calendar objects into a CalDAV server's
// storage and returns the calendar path (testenv.Radicale.SeedCalendar).
type SeedFunc func(user, name string, objects map[string][]byte) (string, error)

// SeedAgents creates agents users agent000.. with events objects each
// (a quarter recurring) starting at start, alternating two time zones.
func SeedAgents(seed SeedFunc, agents, events int, start time.Time) ([]string, error) {
	users := make([]string, agents)
	for i := range agents {
		users[i] = fmt.Sprintf("agent%03d", i)
		tz := "Europe/Berlin"
		if i%2 == 1 {
			tz = "America/New_York"
		}
		if _, err := seed(users[i], "work", GenerateCalendar(uint64(i), events, start, tz)); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// prewarmPy builds Radicale's item cache of some users' calendar with
// Radicale's own storage code, as the server's first read of each object
// would (parse it, compute its time span, write the cache entry), without
// fsyncs. Arguments: the config file, the calendar name, the users.
const prewarmPy = `
import sys
import radicale.config, radicale.storage
conf = radicale.config.load([(sys.argv[1], False)])
conf.update({"storage": {"_filesystem_fsync": "False"}}, "caltest", privileged=True)
storage = radicale.storage.load(conf)
for user in sys.argv[3:]:
    with storage.acquire_lock("r"):
        for col in storage.discover("/%s/%s/" % (user, sys.argv[2]), depth="0"):
            for _ in col.get_all():
                pass
`

// radicaleBin is Debian's Radicale; its #! line names the Python that has
// the radicale package.
const radicaleBin = "/usr/bin/radicale"

// PrewarmRadicale builds Radicale's item cache for the calendar name of
// every user in users, seeded with SeedAgents into the storage of the
// Radicale configured by conf, in procs processes at once. Radicale serves
// from one Python process (one core at a time) and indexes each seeded
// object on its first read, so without this the first sync of 200 x 150
// objects takes minutes. It is a fixture step, not part of any measured
// sync.
func PrewarmRadicale(conf string, users []string, name string, procs int) error {
	head, err := os.ReadFile(radicaleBin)
	if err != nil {
		return err
	}
	line, _, _ := strings.Cut(string(head), "\n")
	python, ok := strings.CutPrefix(line, "#!")
	if !ok || strings.ContainsAny(strings.TrimSpace(python), " \t") {
		return fmt.Errorf("caltest: no interpreter in the #! line of %s", radicaleBin)
	}
	python = strings.TrimSpace(python)
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for p := range procs {
		args := []string{"-c", prewarmPy, conf, name}
		for i := p; i < len(users); i += procs {
			args = append(args, users[i])
		}
		wg.Go(func() {
			if out, err := exec.Command(python, args...).CombinedOutput(); err != nil {
				errs[p] = fmt.Errorf("caltest: prewarm: %w: %s", err, out)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
