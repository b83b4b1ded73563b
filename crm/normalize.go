package crm

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
)

// defaultFreeMail are the providers whose domain says nothing about the
// sender's organisation.
var defaultFreeMail = [...]string{
	"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com",
	"yahoo.com", "icloud.com", "me.com", "aol.com", "gmx.de", "gmx.net",
	"web.de", "proton.me", "protonmail.com", "yandex.ru", "mail.ru",
	"qq.com", "163.com",
}

// DefaultFreeMailDomains returns the built-in free-mail domains, the
// default of LocalOptions.FreeMailDomains (a new slice each call).
func DefaultFreeMailDomains() []string { return slices.Clone(defaultFreeMail[:]) }

// DemoFreeMailDomains is DefaultFreeMailDomains plus example.com, which the
// demo corpus uses as its free-mail provider: `sidedesk demo` passes it as
// LocalOptions.FreeMailDomains.
func DemoFreeMailDomains() []string { return append(DefaultFreeMailDomains(), "example.com") }

// NormalizeEmail lower-cases and trims an address; Match and every write
// use it, so look-ups are case-insensitive.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CheckEmail normalises s and reports whether it is a plain addr-spec
// (RFC 5322 section 3.4.1: local-part "@" domain), with no display name.
func CheckEmail(s string) (string, error) {
	e := NormalizeEmail(s)
	if e == "" {
		return "", fmt.Errorf("empty email address")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", fmt.Errorf("bad email address %q", s)
	}
	at := strings.LastIndexByte(e, '@')
	if dom := e[at+1:]; !strings.Contains(dom, ".") || strings.ContainsAny(e, " \t<>,;") {
		return "", fmt.Errorf("bad email address %q", s)
	}
	return e, nil
}

// EmailDomain is the part after the last '@' ("" if none).
func EmailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return email[at+1:]
}

// DomainCandidates lists d and its parent domains, most specific first,
// stopping before the last label (a TLD owns nothing):
// mail.globex.example → [mail.globex.example globex.example].
func DomainCandidates(d string) []string {
	var out []string
	for strings.Count(d, ".") >= 1 {
		out = append(out, d)
		d = d[strings.IndexByte(d, '.')+1:]
	}
	return out
}

// normalizeDomain turns a website or domain ("https://www.Globex.example/x",
// "globex.example.") into an email domain ("globex.example"); "" when it
// holds none.
func normalizeDomain(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return ""
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 && !strings.Contains(s, "://") {
		s = s[i+1:]
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	h := strings.TrimSuffix(u.Hostname(), ".")
	h = strings.TrimPrefix(h, "www.")
	if !strings.Contains(h, ".") || strings.ContainsAny(h, " _/\\") {
		return ""
	}
	return h
}

// AccountDomains is the domain set of an account: its Domains and its
// Website's, normalised, without duplicates, in order.
func AccountDomains(a *Account) []string {
	var out []string
	add := func(s string) {
		if d := normalizeDomain(s); d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	for _, d := range a.Domains {
		add(d)
	}
	add(a.Website)
	return out
}

// IsClosedStage reports whether a Salesforce stage name means the deal is
// over ("Closed Won", "Closed Lost").
func IsClosedStage(stage string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(stage)), "closed")
}

// SplitList splits a stored space-separated list (domains, other emails).
func SplitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}
