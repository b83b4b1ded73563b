package config

import (
	"bytes"
	"net/url"
	"slices"

	"github.com/BurntSushi/toml"
)

// Redacted returns the effective configuration as TOML, for `sidedesk
// doctor` and logs. Secret values are never in a Config (only references);
// the dump also hides passwords embedded in URLs and any *_env key that
// does not hold a variable name (a pasted secret).
func (c *Config) Redacted() string {
	d := *c
	d.Server.PublicURL = redactURL(d.Server.PublicURL)
	d.Security.SecretKeyEnv = redactEnvName(d.Security.SecretKeyEnv)
	d.Mailboxes = slices.Clone(c.Mailboxes)
	for i := range d.Mailboxes {
		m := &d.Mailboxes[i]
		for _, p := range []*string{&m.PasswordEnv, &m.OAuthTokenEnv, &m.ClientSecretEnv, &m.RefreshTokenEnv, &m.PushTokenEnv} {
			*p = redactEnvName(*p)
		}
		m.APIBaseURL, m.TokenURL = redactURL(m.APIBaseURL), redactURL(m.TokenURL)
	}
	d.Calendar.Agents = slices.Clone(c.Calendar.Agents)
	for i := range d.Calendar.Agents {
		a := &d.Calendar.Agents[i]
		for _, p := range []*string{&a.PasswordEnv, &a.ClientSecretEnv, &a.RefreshTokenEnv} {
			*p = redactEnvName(*p)
		}
		a.CalDAVURL, a.APIBaseURL, a.TokenURL = redactURL(a.CalDAVURL), redactURL(a.APIBaseURL), redactURL(a.TokenURL)
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(d); err != nil {
		// Every field type of Config encodes; this is unreachable.
		return "# config: cannot encode: " + err.Error()
	}
	return b.String()
}

func redactEnvName(s string) string {
	if s == "" || envNameRE.MatchString(s) {
		return s
	}
	return redacted
}

// redactURL hides the password of a URL's user info.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if s == "" {
			return s
		}
		return redacted
	}
	if _, has := u.User.Password(); has {
		// "redacted", not "[redacted]": brackets are not allowed in user
		// info, and the dump must stay loadable.
		u.User = url.UserPassword(u.User.Username(), "redacted")
		return u.String()
	}
	return s
}
