package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Error lists every problem found in a configuration, each naming its key
// path (and the file line where known), e.g.
//
//	mailbox[1] "support".tls: "tsl" is not one of implicit, starttls, none
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "config: " + e.Problems[0]
	}
	return fmt.Sprintf("config: %d problems:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// envPrefix starts every configuration override variable.
const envPrefix = "SIDEDESK_"

// reservedEnv are SIDEDESK_ variables that are not configuration keys.
func reservedEnv(name string) bool {
	switch name {
	case "SIDEDESK_CONFIG", // the CLI's default for --config
		"SIDEDESK_INTEGRATION": // tests: require integration servers
		return true
	}
	return false
}

// secretKeys are keys that would hold a secret literally; they are refused.
func isLiteralSecretKey(k string) bool {
	switch k {
	case "password", "client_secret", "refresh_token", "oauth_token", "secret_key", "push_token", "token",
		"bot_token", "app_token", "signing_secret":
		return true
	}
	return false
}

type rawCalendar struct {
	Enabled      bool             `toml:"enabled"`
	Window       time.Duration    `toml:"window"`
	SyncInterval time.Duration    `toml:"sync_interval"`
	Agents       []toml.Primitive `toml:"agent"`
}

type rawConfig struct {
	Server    Server           `toml:"server"`
	Database  Database         `toml:"database"`
	Storage   Storage          `toml:"storage"`
	Log       Log              `toml:"log"`
	Security  Security         `toml:"security"`
	Ticket    Ticket           `toml:"ticket"`
	Mailboxes []toml.Primitive `toml:"mailbox"`
	Calendar  rawCalendar      `toml:"calendar"`
	Slack     Slack            `toml:"slack"`
	Webhooks  Webhooks         `toml:"webhooks"`
	CRM       CRM              `toml:"crm"`
}

// Load reads the TOML file at path (path "" means defaults only), applies
// environment overrides from env (KEY=VALUE pairs, os.Environ() in main),
// fills dependent defaults and validates. Any problem fails the load; the
// error (an *Error for everything but unreadable or unparsable files) lists
// them all.
//
// Overrides: SIDEDESK_<SECTION>_<KEY> sets a scalar key of a single
// section (SIDEDESK_SERVER_LISTEN, SIDEDESK_LOG_LEVEL,
// SIDEDESK_TICKET_FLOOD_LIMIT); SIDEDESK_MAILBOX_<NAME>_<KEY> sets a key of
// the mailbox of that name (upper-cased, "-" as "_"):
// SIDEDESK_MAILBOX_SUPPORT_EU_HOST. Any other SIDEDESK_ variable is an
// error, except SIDEDESK_CONFIG, SIDEDESK_INTEGRATION and variables that a
// *_env key of the configuration names.
//
// Secret references (*_env) are resolved against env, not the process
// environment; Config.Getenv gives the same view to callers.
func Load(path string, env []string) (*Config, error) {
	c := defaults()
	envMap := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envMap[k] = v
		}
	}
	c.lookupEnv = func(k string) (string, bool) { v, ok := envMap[k]; return v, ok }

	var (
		problems []string
		fileData []byte
		filePath string
		skipKeys = map[string]bool{}
	)
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		// Duration strings that do not parse would stop the decoder at
		// the first; each is reported here with its line, and decoded as
		// "0s" meanwhile, so that every other problem is listed too.
		data, bad := badDurations(data)
		p, err := c.decode(data)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		p = append(bad, p...)
		for _, u := range p {
			if u.line > 0 {
				problems = append(problems, fmt.Sprintf("%s:%d: %s", path, u.line, u.msg))
			} else {
				problems = append(problems, path+": "+u.msg)
			}
		}
		// Validation problems get the line of the key they name.
		fileData, filePath = data, path
		for _, b := range bad {
			skipKeys[b.key] = true
		}
	}
	problems = append(problems, c.applyEnv(envMap)...)
	c.complete()
	var verr *Error
	if err := c.Validate(); errors.As(err, &verr) {
		for _, p := range verr.Problems {
			if fileData != nil {
				label, _, _ := strings.Cut(p, ": ")
				if skipKeys[label] {
					continue // its value was refused above already
				}
				if line := lineOf(fileData, label); line > 0 {
					p = fmt.Sprintf("%s:%d: %s", filePath, line, p)
				}
			}
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// fileProblem is an unknown or forbidden key of the file.
type fileProblem struct {
	line int // 0 when unknown
	msg  string
	key  string // the label the message starts with (badDurations)
}

// durationLineRE is a "key = "value"" line (the value a quoted string).
var durationLineRE = regexp.MustCompile(`^(\s*)([A-Za-z0-9_-]+)(\s*=\s*)("[^"]*"|'[^']*')(.*)$`)

// badDurations finds duration keys whose string does not parse and
// returns the document with each such value replaced by "0s", and a
// problem per key naming its line and a valid example.
func badDurations(data []byte) ([]byte, []fileProblem) {
	var generic map[string]any
	if _, err := toml.Decode(string(data), &generic); err != nil {
		return data, nil // a syntax error: the decoder reports it
	}
	durations := durationKeys()
	lines := strings.Split(string(data), "\n")
	var problems []fileProblem
	var walk func(v any, prefix toml.Key, elem string, index int)
	walk = func(v any, prefix toml.Key, elem string, index int) {
		switch x := v.(type) {
		case map[string]any:
			for k, sub := range x {
				walk(sub, append(slices.Clone(prefix), k), elem, index)
			}
		case []map[string]any:
			for i, sub := range x {
				// Labelled as the validation labels them: mailbox[0] "support".
				name, _ := sub["name"].(string)
				if prefix.String() == "calendar.agent" {
					name, _ = sub["id"].(string)
				}
				walk(sub, prefix, fmt.Sprintf("%s[%d] %q", prefix, i, name), i)
			}
		case string:
			if !durations[prefix.String()] {
				return
			}
			if _, err := time.ParseDuration(x); err == nil {
				return
			}
			for _, loc := range locateKey(data, prefix) {
				label := prefix.String()
				if elem != "" {
					if loc.index != index {
						continue // another element's line
					}
					label = elem + "." + prefix[len(strings.Split(loc.array, ".")):].String()
				}
				if loc.line > 0 {
					if m := durationLineRE.FindStringSubmatch(lines[loc.line-1]); m != nil && strings.Trim(m[4], `"'`) == x {
						lines[loc.line-1] = m[1] + m[2] + m[3] + `"0s"` + m[5]
					}
				}
				problems = append(problems, fileProblem{line: loc.line, key: label,
					msg: fmt.Sprintf("%s: %q is not a duration: write a number and a unit, e.g. \"90s\", \"5m\" or \"1h30m\"", label, x)})
			}
		}
	}
	walk(generic, nil, "", -1)
	if len(problems) == 0 {
		return data, nil
	}
	slices.SortFunc(problems, func(a, b fileProblem) int { return a.line - b.line })
	return []byte(strings.Join(lines, "\n")), problems
}

// labelRE reads a problem's key label: `mailbox[0] "support".port`,
// `calendar.agent[1] "ana".ics_url` or `ticket.flood_limit`.
var labelRE = regexp.MustCompile(`^([a-z_.]+)\[(\d+)\] "[^"]*"(?:\.([a-z0-9_.]+))?$|^([a-z0-9_.]+)$`)

// lineOf is the line of the file that sets the key a problem names, or
// for a key not written, the line of its [[table]] header; 0 when unknown.
func lineOf(data []byte, label string) int {
	m := labelRE.FindStringSubmatch(label)
	switch {
	case m == nil:
		return 0
	case m[4] != "":
		if loc := locateKey(data, splitKey(m[4])); loc[0].line > 0 {
			return loc[0].line
		}
		return 0
	}
	array, index := m[1], 0
	fmt.Sscan(m[2], &index)
	if m[3] != "" {
		for _, loc := range locateKey(data, splitKey(array+"."+m[3])) {
			if loc.index == index && loc.line > 0 {
				return loc.line
			}
		}
	}
	for _, loc := range locateKey(data, splitKey(array)) {
		if loc.index == index && loc.line > 0 {
			return loc.line
		}
	}
	return 0
}

// decode applies the TOML document to c and returns the unknown or
// forbidden keys.
func (c *Config) decode(data []byte) ([]fileProblem, error) {
	raw := rawConfig{
		Server: c.Server, Database: c.Database, Storage: c.Storage, Log: c.Log,
		Security: c.Security, Ticket: c.Ticket, Slack: c.Slack, Webhooks: c.Webhooks, CRM: c.CRM,
		Calendar: rawCalendar{Enabled: c.Calendar.Enabled, Window: c.Calendar.Window, SyncInterval: c.Calendar.SyncInterval},
	}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw)
	if err != nil {
		return nil, err
	}
	c.Server, c.Database, c.Storage, c.Log, c.Security, c.Ticket, c.Slack, c.Webhooks, c.CRM =
		raw.Server, raw.Database, raw.Storage, raw.Log, raw.Security, raw.Ticket, raw.Slack, raw.Webhooks, raw.CRM
	c.Calendar = Calendar{Enabled: raw.Calendar.Enabled, Window: raw.Calendar.Window, SyncInterval: raw.Calendar.SyncInterval}
	c.Mailboxes = nil
	for _, p := range raw.Mailboxes {
		m := DefaultMailbox()
		if err := md.PrimitiveDecode(p, &m); err != nil {
			return nil, err
		}
		c.Mailboxes = append(c.Mailboxes, m)
	}
	for _, p := range raw.Calendar.Agents {
		a := DefaultAgent()
		if err := md.PrimitiveDecode(p, &a); err != nil {
			return nil, err
		}
		c.Calendar.Agents = append(c.Calendar.Agents, a)
	}

	var problems []fileProblem
	undecoded := md.Undecoded()
	isUndecoded := func(k toml.Key) bool {
		return slices.ContainsFunc(undecoded, func(u toml.Key) bool { return slices.Equal(u, k) })
	}
	seen := map[fileProblem]bool{}
	for _, k := range undecoded {
		if len(k) > 1 && isUndecoded(k[:len(k)-1]) {
			continue // reported with its table
		}
		for _, loc := range locateKey(data, k) {
			label := c.keyLabel(k, loc)
			msg := "unknown key"
			if last := k[len(k)-1]; isLiteralSecretKey(last) {
				msg = fmt.Sprintf("secrets are not allowed in the file; use %s_env or %s_file", last, last)
			}
			p := fileProblem{line: loc.line, msg: label + ": " + msg}
			if !seen[p] {
				seen[p] = true
				problems = append(problems, p)
			}
		}
	}
	// TOML has no duration type: the decoder reads an integer into a
	// time.Duration as nanoseconds, so `poll_interval = 60` would poll
	// 60 ns apart. Refuse a bare number for every duration key.
	durations := durationKeys()
	for _, k := range md.Keys() {
		if !durations[k.String()] || md.Type(k...) != "Integer" {
			continue
		}
		for _, loc := range locateKey(data, k) {
			p := fileProblem{line: loc.line, msg: c.keyLabel(k, loc) +
				`: a bare number is not a duration (it would be read as nanoseconds); write it with its unit as a string, e.g. "60s" or "5m"`}
			if !seen[p] {
				seen[p] = true
				problems = append(problems, p)
			}
		}
	}
	return problems, nil
}

// durationKeys are the dotted keys whose value is a time.Duration.
func durationKeys() map[string]bool {
	out := map[string]bool{}
	durType := reflect.TypeFor[time.Duration]()
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			switch ft := f.Type; {
			case ft == durType:
				out[prefix+name] = true
			case ft.Kind() == reflect.Struct:
				walk(ft, prefix+name+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), prefix+name+".")
			}
		}
	}
	walk(reflect.TypeFor[rawConfig](), "")
	walk(reflect.TypeFor[Mailbox](), "mailbox.")
	walk(reflect.TypeFor[Agent](), "calendar.agent.")
	return out
}

// keyLabel names k as messages do: `mailbox[1] "support".tsl`.
func (c *Config) keyLabel(k toml.Key, loc keyLoc) string {
	if loc.array == "" || loc.index < 0 {
		return k.String()
	}
	label := fmt.Sprintf("%s[%d]", loc.array, loc.index)
	switch loc.array {
	case "mailbox":
		if loc.index < len(c.Mailboxes) {
			label = c.Mailboxes[loc.index].label(loc.index)
		}
	case "calendar.agent":
		if loc.index < len(c.Calendar.Agents) {
			label = c.Calendar.Agents[loc.index].label(loc.index)
		}
	}
	rest := k[len(strings.Split(loc.array, ".")):]
	if len(rest) == 0 {
		return label
	}
	return label + "." + rest.String()
}

// keyLoc is where a key was written: its line (0 when unknown) and, inside
// an array of tables, the array's name and the element's index.
type keyLoc struct {
	line  int
	array string
	index int
}

// locateKey finds the lines that set key in a TOML document, by a light
// scan of table headers and "key =" lines (the decoder does not expose
// positions). Keys it cannot find (inline tables, ...) yield one keyLoc
// without a line.
func locateKey(data []byte, key toml.Key) []keyLoc {
	want := key.String()
	var (
		table   toml.Key
		array   string
		index   = -1
		counts  = map[string]int{}
		inMulti bool
		out     []keyLoc
	)
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if n := strings.Count(line, `"""`) + strings.Count(line, `'''`); n%2 == 1 {
			inMulti = !inMulti
			if !inMulti {
				continue
			}
		} else if inMulti {
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		var full toml.Key
		switch {
		case strings.HasPrefix(line, "[["):
			name, _, _ := strings.Cut(line[2:], "]]")
			table = splitKey(name)
			array = table.String()
			index = counts[array]
			counts[array]++
			full = table
		case line[0] == '[':
			name, _, _ := strings.Cut(line[1:], "]")
			table = splitKey(name)
			if !strings.HasPrefix(table.String()+".", array+".") {
				array, index = "", -1
			}
			full = table
		default:
			k, _, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			full = append(slices.Clone(table), splitKey(k)...)
		}
		if full.String() == want {
			loc := keyLoc{line: i + 1, index: -1}
			if array != "" && strings.HasPrefix(want+".", array+".") {
				loc.array, loc.index = array, index
			}
			out = append(out, loc)
		}
	}
	if len(out) == 0 {
		out = append(out, keyLoc{index: -1})
	}
	return out
}

func splitKey(s string) toml.Key {
	var k toml.Key
	for part := range strings.SplitSeq(s, ".") {
		part = strings.TrimSpace(part)
		part = strings.Trim(part, `"'`)
		k = append(k, part)
	}
	return k
}

// applyEnv applies SIDEDESK_ overrides and returns the problems.
func (c *Config) applyEnv(env map[string]string) []string {
	referenced := c.referencedEnv()
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	var problems []string
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, envPrefix)
		if !ok || reservedEnv(name) || referenced[name] {
			continue
		}
		if err := c.applyEnvVar(rest, env[name]); err != nil {
			problems = append(problems, name+": "+err.Error())
		}
	}
	return problems
}

func (c *Config) applyEnvVar(rest, value string) error {
	if mb, ok := strings.CutPrefix(rest, "MAILBOX_"); ok {
		// The longest matching name wins: "support_eu" before "support".
		best := -1
		for i, m := range c.Mailboxes {
			envName := strings.ReplaceAll(strings.ToUpper(m.Name), "-", "_")
			if strings.HasPrefix(mb, envName+"_") && (best < 0 || len(envName) > len(c.Mailboxes[best].Name)) {
				best = i
			}
		}
		if best < 0 {
			return errors.New("names no configured mailbox (SIDEDESK_MAILBOX_<NAME>_<KEY> sets keys of mailboxes defined in the file)")
		}
		envName := strings.ReplaceAll(strings.ToUpper(c.Mailboxes[best].Name), "-", "_")
		key := strings.ToLower(strings.TrimPrefix(mb, envName+"_"))
		return setKey(reflect.ValueOf(&c.Mailboxes[best]).Elem(), key, value)
	}
	sections := []struct {
		name string
		v    any
	}{
		{"server", &c.Server}, {"database", &c.Database}, {"storage", &c.Storage}, {"log", &c.Log},
		{"security", &c.Security}, {"ticket", &c.Ticket}, {"calendar", &c.Calendar},
	}
	for _, s := range sections {
		if key, ok := strings.CutPrefix(rest, strings.ToUpper(s.name)+"_"); ok {
			return setKey(reflect.ValueOf(s.v).Elem(), strings.ToLower(key), value)
		}
	}
	return errors.New("unknown setting (want SIDEDESK_<SECTION>_<KEY> or SIDEDESK_MAILBOX_<NAME>_<KEY>)")
}

// setKey sets the scalar field of struct v whose toml tag is key.
func setKey(v reflect.Value, key, value string) error {
	if isLiteralSecretKey(key) {
		return fmt.Errorf("secrets cannot be set this way; use %s_env or %s_file", key, key)
	}
	t := v.Type()
	for i := range t.NumField() {
		if tomlName(t.Field(i)) != key {
			continue
		}
		f := v.Field(i)
		switch ptr := f.Addr().Interface().(type) {
		case *time.Duration:
			d, err := time.ParseDuration(value)
			if err != nil {
				return fmt.Errorf("%s: %q is not a duration like \"60s\" or \"720h\"", key, value)
			}
			*ptr = d
		case *Date:
			return ptr.UnmarshalText([]byte(value))
		case *string:
			*ptr = value
		case *bool:
			b, err := strconv.ParseBool(value)
			if err != nil {
				return fmt.Errorf("%s: %q is not true or false", key, value)
			}
			*ptr = b
		case *int:
			n, err := strconv.Atoi(value)
			if err != nil {
				return fmt.Errorf("%s: %q is not an integer", key, value)
			}
			*ptr = n
		case *[]string: // a comma-separated list
			var list []string
			for _, item := range strings.Split(value, ",") {
				if item = strings.TrimSpace(item); item != "" {
					list = append(list, item)
				}
			}
			*ptr = list
		default:
			return fmt.Errorf("%s is not a scalar or list key; set it in the file", key)
		}
		return nil
	}
	return fmt.Errorf("unknown key %s", key)
}

func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	return name
}

// referencedEnv is the set of variables the *_env keys name: they may
// start with SIDEDESK_ without being overrides.
func (c *Config) referencedEnv() map[string]bool {
	refs := map[string]bool{c.Security.SecretKeyEnv: true}
	for _, m := range c.Mailboxes {
		for _, s := range m.secrets() {
			refs[s.Env] = true
		}
	}
	for _, a := range c.Calendar.Agents {
		for _, s := range a.secrets() {
			refs[s.Env] = true
		}
	}
	for _, s := range c.Slack.secrets() {
		refs[s.Env] = true
	}
	refs[c.CRM.ClientSecretEnv] = true
	refs[c.CRM.JWTKeyEnv] = true
	delete(refs, "")
	return refs
}

func (m Mailbox) secrets() []Secret {
	return []Secret{m.Password(), m.OAuthToken(), m.ClientSecret(), m.RefreshToken(), m.PushToken()}
}

func (a Agent) secrets() []Secret {
	return []Secret{a.Password(), a.ClientSecret(), a.RefreshToken()}
}

func (m Mailbox) label(i int) string { return fmt.Sprintf("mailbox[%d] %q", i, m.Name) }

func (a Agent) label(i int) string { return fmt.Sprintf("calendar.agent[%d] %q", i, a.ID) }
