package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
)

// redacted is what every dump prints in place of a secret.
const redacted = "[redacted]"

// Secret is a reference to a secret value: an environment variable (Env) or
// a file (File), never the value itself. Key is the configuration key it
// came from, for messages. String, GoString, MarshalText and LogValue print
// "[redacted]", so a Secret can be logged or dumped without care.
type Secret struct {
	Key  string // e.g. `mailbox "support".password`
	Env  string
	File string
}

// IsSet reports whether the secret has a reference at all.
func (s Secret) IsSet() bool { return s.Env != "" || s.File != "" }

// Resolve reads the secret: from the environment through getenv (typically
// (*Config).Getenv or os.Getenv), or from the file, whose single trailing
// newline (LF or CRLF) is trimmed. Errors name the key and the variable or
// file, never the value.
func (s Secret) Resolve(getenv func(string) string) (string, error) {
	switch {
	case s.Env != "" && s.File != "":
		return "", fmt.Errorf("config: %s: set only one of %s_env and %s_file", s.Key, s.base(), s.base())
	case s.Env != "":
		v := getenv(s.Env)
		if v == "" {
			return "", fmt.Errorf("config: %s: environment variable %s is not set", s.Key, s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("config: %s: reading %s_file: %w", s.Key, s.base(), err)
		}
		v := strings.TrimSuffix(string(b), "\n")
		v = strings.TrimSuffix(v, "\r")
		if v == "" {
			return "", fmt.Errorf("config: %s: file %s is empty", s.Key, s.File)
		}
		return v, nil
	}
	return "", fmt.Errorf("config: %s: not configured (set %s_env or %s_file)", s.Key, s.base(), s.base())
}

// base is the key's last component: "password" for `mailbox "x".password`.
func (s Secret) base() string {
	if i := strings.LastIndexByte(s.Key, '.'); i >= 0 {
		return s.Key[i+1:]
	}
	return s.Key
}

// String implements fmt.Stringer and never shows the reference.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return redacted }

// MarshalText implements encoding.TextMarshaler (JSON, TOML dumps).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// envNameRE is what a *_env key must hold: the name of a variable, not a
// value. A value there (someone pasted the password) is never echoed.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var errNotEnvName = errors.New("is not an environment variable name (give the variable's name, not the secret)")
