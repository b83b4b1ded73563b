package ticket

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Limits of custom fields.
const (
	MaxCustomFields     = 50
	MaxCustomFieldValue = 1000 // characters of a string value
)

var customKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// checkCustomFields checks custom field values: keys of 1 to 40 lower-case
// letters, digits and "_" starting with a letter; values strings (at most
// MaxCustomFieldValue characters), finite numbers or booleans. With
// deletes, a nil value (JSON null) is allowed: it removes the field.
// Errors wrap ErrInvalid and name the field.
func checkCustomFields(in map[string]any, deletes bool) error {
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if !customKey.MatchString(k) {
			return fmt.Errorf("%w custom field %q: a key is 1 to 40 lower-case letters, digits and _, starting with a letter", ErrInvalid, k)
		}
		switch v := in[k].(type) {
		case nil:
			if !deletes {
				return fmt.Errorf("%w custom field %q: null (leave it out instead)", ErrInvalid, k)
			}
		case string:
			if n := utf8.RuneCountInString(v); n > MaxCustomFieldValue {
				return fmt.Errorf("%w custom field %q: %d characters, at most %d", ErrInvalid, k, n, MaxCustomFieldValue)
			}
			if !utf8.ValidString(v) {
				return fmt.Errorf("%w custom field %q: not valid UTF-8", ErrInvalid, k)
			}
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w custom field %q: not a finite number", ErrInvalid, k)
			}
		case bool:
		case json.Number:
			if _, err := v.Float64(); err != nil {
				return fmt.Errorf("%w custom field %q: %v", ErrInvalid, k, err)
			}
		default:
			return fmt.Errorf("%w custom field %q: want a string, number or boolean, not %T", ErrInvalid, k, v)
		}
	}
	return nil
}

// normValue makes JSON numbers float64, so stored and compared values
// have one form.
func normValue(v any) any {
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		return f
	}
	return v
}

// applyCustomFields applies a change (nil value: delete) to cur and
// reports each changed field as "custom_fields.<key>".
func applyCustomFields(cur, ch map[string]any, changes map[string]FieldChange) (map[string]any, error) {
	if err := checkCustomFields(ch, true); err != nil {
		return nil, err
	}
	out := maps.Clone(cur)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range ch {
		old, had := out[k]
		v = normValue(v)
		switch {
		case v == nil && had:
			delete(out, k)
		case v == nil:
			continue
		case had && old == v:
			continue
		default:
			out[k] = v
		}
		changes["custom_fields."+k] = FieldChange{fieldText(old, had), fieldText(v, v != nil)}
	}
	if len(out) > MaxCustomFields {
		return nil, fmt.Errorf("%w custom fields: %d, at most %d", ErrInvalid, len(out), MaxCustomFields)
	}
	return out, nil
}

// fieldText renders a value for a change record ("" for none).
func fieldText(v any, ok bool) string {
	if !ok || v == nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

// NewCustomFields checks and normalises the custom fields of a new ticket.
func NewCustomFields(in map[string]any) (map[string]any, error) {
	if err := checkCustomFields(in, false); err != nil {
		return nil, err
	}
	if len(in) > MaxCustomFields {
		return nil, fmt.Errorf("%w custom fields: %d, at most %d", ErrInvalid, len(in), MaxCustomFields)
	}
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = normValue(v)
	}
	return out, nil
}
