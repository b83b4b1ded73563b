package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/crm"
)

// describeTTL is how long an object's describe is reused per agent (it
// changes when an admin edits the org's schema or the agent's profile).
const describeTTL = 10 * time.Minute

type describeJSON struct {
	Fields []struct {
		Name           string `json:"name"`
		Label          string `json:"label"`
		Type           string `json:"type"`
		Nillable       bool   `json:"nillable"`
		Updateable     bool   `json:"updateable"`
		Createable     bool   `json:"createable"`
		Defaulted      bool   `json:"defaultedOnCreate"`
		PicklistValues []struct {
			Value  string `json:"value"`
			Active bool   `json:"active"`
		} `json:"picklistValues"`
	} `json:"fields"`
}

type describeCached struct {
	fields  []crm.FieldInfo
	expires time.Time
}

// Fields implements crm.RecordEditor: GET sobjects/{Object}/describe as
// the agent, so their field-level security decides what is there and what
// is editable.
func (c *Connector) Fields(ctx context.Context, tenant string, obj crm.Object) ([]crm.FieldInfo, error) {
	name, ok := sobjectOf(obj)
	if !ok {
		return nil, fmt.Errorf("salesforce: describe: unknown object %q", obj)
	}
	agent, err := c.actor(ctx)
	if err != nil {
		return nil, err
	}
	key := tenant + "\x00" + agent + "\x00" + name
	now := c.opts.Now()
	c.mu.Lock()
	if d, ok := c.describes[key]; ok && now.Before(d.expires) {
		c.mu.Unlock()
		return d.fields, nil
	}
	c.mu.Unlock()
	var d describeJSON
	if err := c.do(ctx, tenant, http.MethodGet, "sobjects/"+name+"/describe", nil, &d); err != nil {
		return nil, err
	}
	var out []crm.FieldInfo
	for _, f := range d.Fields {
		fi := crm.FieldInfo{Name: f.Name, Label: f.Label, Type: f.Type, Updateable: f.Updateable,
			Createable: f.Createable, Defaulted: f.Defaulted, Required: !f.Nillable && f.Type != "boolean"}
		for _, p := range f.PicklistValues {
			if p.Active {
				fi.Picklist = append(fi.Picklist, p.Value)
			}
		}
		out = append(out, fi)
	}
	c.mu.Lock()
	c.describes[key] = describeCached{fields: out, expires: now.Add(describeTTL)}
	c.mu.Unlock()
	return out, nil
}

// forgetDescribes drops the agent's cached describes after Salesforce
// refused a write: the org's schema or the agent's access may have changed
// since (a new required field), and the next form should show it.
func (c *Connector) forgetDescribes(ctx context.Context, tenant string) {
	agent, err := c.actor(ctx)
	if err != nil {
		return
	}
	prefix := tenant + "\x00" + agent + "\x00"
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.describes {
		if strings.HasPrefix(k, prefix) {
			delete(c.describes, k)
		}
	}
}

// Update implements crm.RecordEditor: PATCH sobjects/{Object}/{id}, each
// value checked against the agent's describe first (the field exists for
// them, is updateable, a picklist value is one of its values; numbers
// and booleans sent as JSON numbers and booleans).
func (c *Connector) Update(ctx context.Context, tenant string, rec crm.Ref, values map[string]string) error {
	name, ok := sobjectOf(rec.Object)
	if !ok {
		return fmt.Errorf("salesforce: update: unknown object %q", rec.Object)
	}
	if err := checkID(rec.ID); err != nil {
		return err
	}
	fields, err := c.Fields(ctx, tenant, rec.Object)
	if err != nil {
		return err
	}
	byName := map[string]crm.FieldInfo{}
	for _, f := range fields {
		byName[f.Name] = f
	}
	body, err := fieldValues(name, byName, values, func(f crm.FieldInfo) bool { return f.Updateable }, "read-only for you")
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	if err := c.do(ctx, tenant, http.MethodPatch, "sobjects/"+name+"/"+rec.ID, body, nil); err != nil {
		c.forgetDescribes(ctx, tenant)
		return refused(err)
	}
	c.dropCacheOf(ctx, tenant)
	return nil
}

var _ crm.RecordEditor = (*Connector)(nil)

// fieldValues checks values against the agent's describe (the field
// exists for them, may be written, a picklist value is one of its values)
// and types them for JSON (numbers, booleans, dates).
func fieldValues(object string, byName map[string]crm.FieldInfo, values map[string]string, writable func(crm.FieldInfo) bool, notWritable string) (map[string]any, error) {
	body := map[string]any{}
	for k, v := range values {
		f, ok := byName[k]
		switch {
		case !ok:
			return nil, crm.RecordError{Field: k, Err: fmt.Errorf("%w: no such field on %s for you", crm.ErrUnknownRecord, object)}
		case !writable(f):
			return nil, crm.RecordError{Field: f.Label, Err: fmt.Errorf("%w: %s", crm.ErrRefused, notWritable)}
		case v == "" && f.Required:
			return nil, crm.RecordError{Field: f.Label, Err: fmt.Errorf("%w: required", crm.ErrMissingField)}
		case v == "":
			body[k] = nil
		case f.Type == "multipicklist" && len(f.Picklist) > 0:
			for _, part := range strings.Split(v, ";") {
				if !slices.Contains(f.Picklist, part) {
					return nil, crm.RecordError{Field: f.Label, Err: fmt.Errorf("%w: %q is not one of its values", crm.ErrRefused, part)}
				}
			}
			body[k] = v
		case len(f.Picklist) > 0 && !slices.Contains(f.Picklist, v):
			return nil, crm.RecordError{Field: f.Label, Err: fmt.Errorf("%w: %q is not one of its values", crm.ErrRefused, v)}
		case f.Type == "currency" || f.Type == "double" || f.Type == "percent" || f.Type == "int":
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, crm.RecordError{Field: f.Label, Err: fmt.Errorf("%w: %q is not a number", crm.ErrRefused, v)}
			}
			body[k] = n
		case f.Type == "boolean":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, crm.RecordError{Field: f.Label, Err: fmt.Errorf("%w: %q is not true or false", crm.ErrRefused, v)}
			}
			body[k] = b
		case f.Type == "date":
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				return nil, crm.RecordError{Field: f.Label, Err: fmt.Errorf("%w: %q is not a date like 2027-01-31", crm.ErrRefused, v)}
			}
			body[k] = v
		default:
			body[k] = v
		}
	}
	return body, nil
}

// customValues adds a create's Custom fields to body, checked against
// the agent's describe of object.
func (c *Connector) customValues(ctx context.Context, tenant string, obj crm.Object, custom map[string]string, body map[string]any) error {
	if len(custom) == 0 {
		return nil
	}
	fields, err := c.Fields(ctx, tenant, obj)
	if err != nil {
		return err
	}
	byName := map[string]crm.FieldInfo{}
	for _, f := range fields {
		byName[f.Name] = f
	}
	name, _ := sobjectOf(obj)
	extra, err := fieldValues(name, byName, custom, func(f crm.FieldInfo) bool { return f.Createable }, "not creatable by you")
	if err != nil {
		return err
	}
	for k, v := range extra {
		if _, set := body[k]; !set {
			body[k] = v
		}
	}
	return nil
}

var _ crm.RecordForms = (*Connector)(nil)

// ReadFields implements crm.RecordForms: GET sobjects/{Object}/{id} as
// the agent, which answers every field they can see; values as text
// (numbers as written, booleans "true"/"false", null "").
func (c *Connector) ReadFields(ctx context.Context, tenant string, rec crm.Ref) (map[string]string, error) {
	name, ok := sobjectOf(rec.Object)
	if !ok {
		return nil, fmt.Errorf("salesforce: read: unknown object %q", rec.Object)
	}
	if err := checkID(rec.ID); err != nil {
		return nil, fmt.Errorf("salesforce: %s %q: %w", rec.Object, rec.ID, crm.ErrNotFound)
	}
	var raw map[string]any
	err := c.do(ctx, tenant, http.MethodGet, "sobjects/"+name+"/"+rec.ID, nil, &raw)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, fmt.Errorf("salesforce: %s %s: %w", rec.Object, rec.ID, crm.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	// Objects (attributes, compound address fields) are not fields a
	// form edits: TextOf leaves them out.
	return crm.TextOf(raw), nil
}

// CreateFields implements crm.RecordForms: POST sobjects/{Object} with
// the values checked against the agent's describe (each field creatable
// for them, required ones given).
func (c *Connector) CreateFields(ctx context.Context, tenant string, obj crm.Object, values map[string]string) (string, error) {
	name, ok := sobjectOf(obj)
	if !ok {
		return "", fmt.Errorf("salesforce: create: unknown object %q", obj)
	}
	fields, err := c.Fields(ctx, tenant, obj)
	if err != nil {
		return "", err
	}
	byName := map[string]crm.FieldInfo{}
	for _, f := range fields {
		byName[f.Name] = f
		if f.Required && f.Createable && !f.Defaulted && values[f.Name] == "" {
			return "", crm.RecordError{Field: f.Name, Err: fmt.Errorf("%w: %s is required", crm.ErrMissingField, f.Label)}
		}
	}
	body, err := fieldValues(name, byName, values, func(f crm.FieldInfo) bool { return f.Createable }, "not creatable by you")
	if err != nil {
		return "", err
	}
	var res createResult
	if err := c.write(ctx, tenant, http.MethodPost, "sobjects/"+name, body, &res); err != nil {
		return "", err
	}
	return res.ID, nil
}

// RecordURL implements crm.RecordForms: the record in Lightning.
func (c *Connector) RecordURL(ctx context.Context, tenant string, rec crm.Ref) string {
	name, ok := sobjectOf(rec.Object)
	inst := c.instance(ctx, tenant)
	if !ok || inst == "" || checkID(rec.ID) != nil {
		return ""
	}
	return strings.TrimRight(inst, "/") + "/lightning/r/" + name + "/" + rec.ID + "/view"
}
