package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sidedesk/sidedesk/crm"
)

// Generic record access (crm.Records) over the REST API: the standard
// fields of crm.RecordFields by their Salesforce names, and the object's
// custom fields (…__c) the agent can see, as written. Reads are SOQL (so
// field-level security applies as in the panel); writes are sobject
// create, update and delete.

var _ crm.Records = (*Connector)(nil)

// sfFields are obj's standard fields that Salesforce has.
func sfFields(obj crm.Object) []crm.RecordField {
	var out []crm.RecordField
	for _, f := range crm.RecordFields[obj] {
		if f.SF != "" {
			out = append(out, f)
		}
	}
	return out
}

// customFields are the custom fields of obj the agent can see (none when
// the describe fails: the standard fields still read).
func (c *Connector) customFields(ctx context.Context, tenant string, obj crm.Object) []string {
	infos, err := c.Fields(ctx, tenant, obj)
	if err != nil {
		return nil
	}
	var out []string
	for _, f := range infos {
		if crm.IsCustomField(f.Name) {
			out = append(out, f.Name)
		}
	}
	return out
}

func (c *Connector) selectList(ctx context.Context, tenant string, obj crm.Object) (string, []string) {
	cols := []string{"Id", "CreatedDate", "LastModifiedDate"}
	for _, f := range sfFields(obj) {
		cols = append(cols, f.SF)
	}
	custom := c.customFields(ctx, tenant, obj)
	return strings.Join(append(cols, custom...), ", "), custom
}

// valuesOf maps one SOQL row to crm.Values.
func (c *Connector) valuesOf(tenant, object, instance string, obj crm.Object, raw map[string]any, custom []string) crm.Values {
	str := func(k string) string { s, _ := raw[k].(string); return s }
	v := crm.MetaValues(c.meta(tenant, object, sfMeta{ID: str("Id"), CreatedDate: str("CreatedDate"),
		LastModifiedDate: str("LastModifiedDate")}, instance))
	for _, f := range sfFields(obj) {
		x := raw[f.SF]
		switch f.Kind {
		case crm.KindNumber:
			n, _ := x.(float64)
			v[f.Name] = n
		case crm.KindBool:
			b, _ := x.(bool)
			v[f.Name] = b
		default:
			s, _ := x.(string)
			if f.Name == "email" {
				s = crm.NormalizeEmail(s)
			}
			v[f.Name] = s
		}
	}
	for _, name := range custom {
		v[name] = raw[name]
	}
	return v
}

func (c *Connector) objectName(obj crm.Object) (string, error) {
	name, ok := sobjectOf(obj)
	if !ok {
		return "", fmt.Errorf("salesforce: unknown object %q", obj)
	}
	return name, nil
}

func (c *Connector) selectRecords(ctx context.Context, tenant string, obj crm.Object, where, tail string) ([]crm.Values, error) {
	name, err := c.objectName(obj)
	if err != nil {
		return nil, err
	}
	cols, custom := c.selectList(ctx, tenant, obj)
	soql := "SELECT " + cols + " FROM " + name
	if where != "" {
		soql += " WHERE " + where
	}
	var rows []map[string]any
	err = c.query(ctx, tenant, soql+tail, func(r json.RawMessage) error {
		var m map[string]any
		if err := json.Unmarshal(r, &m); err != nil {
			return err
		}
		rows = append(rows, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	inst := c.instance(ctx, tenant)
	out := make([]crm.Values, 0, len(rows))
	for _, r := range rows {
		out = append(out, c.valuesOf(tenant, name, inst, obj, r, custom))
	}
	return out, nil
}

// GetRecord implements crm.Records.
func (c *Connector) GetRecord(ctx context.Context, tenant string, ref crm.Ref) (crm.Values, error) {
	if err := checkID(ref.ID); err != nil {
		return nil, fmt.Errorf("salesforce: %s %q: %w", ref.Object, ref.ID, crm.ErrNotFound)
	}
	recs, err := c.selectRecords(ctx, tenant, ref.Object, "Id = "+Quote(ref.ID), " LIMIT 1")
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("salesforce: %s %s: %w", ref.Object, ref.ID, crm.ErrNotFound)
	}
	return recs[0], nil
}

// ListRecords implements crm.Records: most recently changed first.
func (c *Connector) ListRecords(ctx context.Context, tenant string, obj crm.Object, q crm.RecordQuery) ([]crm.Values, error) {
	var where []string
	if q.Email != "" {
		if obj != crm.ObjContact && obj != crm.ObjLead {
			return nil, crm.RecordError{Field: "email", Err: fmt.Errorf("%w: only contacts and leads have an email", crm.ErrInvalidValue)}
		}
		where = append(where, "Email = "+Quote(crm.NormalizeEmail(q.Email)))
	}
	if q.Name != "" {
		field := "Name"
		if obj == crm.ObjCase {
			field = "Subject"
		}
		where = append(where, field+" LIKE "+QuoteLike("", strings.TrimSpace(q.Name), "%"))
	}
	if q.AccountID != "" {
		if obj == crm.ObjAccount || obj == crm.ObjLead {
			return nil, crm.RecordError{Field: "account_id", Err: fmt.Errorf("%w: %ss have no account", crm.ErrInvalidValue, obj)}
		}
		if err := checkID(q.AccountID); err != nil {
			return nil, crm.RecordError{Field: "account_id", Err: err}
		}
		where = append(where, "AccountId = "+Quote(q.AccountID))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	return c.selectRecords(ctx, tenant, obj, strings.Join(where, " AND "),
		fmt.Sprintf(" ORDER BY LastModifiedDate DESC LIMIT %d", min(limit, 200)))
}

// body maps checked fields to Salesforce's names.
func sfBody(obj crm.Object, f crm.Values) (map[string]any, error) {
	body := map[string]any{}
	for k, v := range f {
		if crm.IsCustomField(k) {
			body[k] = v
			continue
		}
		for _, rf := range crm.RecordFields[obj] {
			if rf.Name != k {
				continue
			}
			if rf.SF == "" {
				return nil, crm.RecordError{Field: k, Err: fmt.Errorf("%w: Salesforce's %s has no such standard field", crm.ErrInvalidValue, obj)}
			}
			if s, ok := v.(string); ok && s == "" {
				v = nil // Salesforce clears a field set to null
			}
			body[rf.SF] = v
		}
	}
	return body, nil
}

// write runs one sobject write, mapping a refusal to the field it names.
func (c *Connector) write(ctx context.Context, tenant, method, path string, body, out any) error {
	err := c.do(ctx, tenant, method, path, body, out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return fmt.Errorf("salesforce: %s: %w", path, crm.ErrNotFound)
	}
	if err != nil {
		c.forgetDescribes(ctx, tenant)
		return refused(err)
	}
	c.dropCacheOf(ctx, tenant)
	return nil
}

// CreateRecord implements crm.Records.
func (c *Connector) CreateRecord(ctx context.Context, tenant string, obj crm.Object, f crm.Values) (crm.Values, error) {
	f, err := crm.CheckFields(obj, f, true, true)
	if err != nil {
		return nil, err
	}
	name, err := c.objectName(obj)
	if err != nil {
		return nil, err
	}
	body, err := sfBody(obj, f)
	if err != nil {
		return nil, err
	}
	var res createResult
	if err := c.write(ctx, tenant, http.MethodPost, "sobjects/"+name, body, &res); err != nil {
		return nil, err
	}
	return c.GetRecord(ctx, tenant, crm.Ref{Object: obj, ID: res.ID})
}

// UpdateRecord implements crm.Records.
func (c *Connector) UpdateRecord(ctx context.Context, tenant string, ref crm.Ref, f crm.Values) (crm.Values, error) {
	f, err := crm.CheckFields(ref.Object, f, false, true)
	if err != nil {
		return nil, err
	}
	name, err := c.objectName(ref.Object)
	if err != nil {
		return nil, err
	}
	if err := checkID(ref.ID); err != nil {
		return nil, fmt.Errorf("salesforce: %s %q: %w", ref.Object, ref.ID, crm.ErrNotFound)
	}
	body, err := sfBody(ref.Object, f)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		if err := c.write(ctx, tenant, http.MethodPatch, "sobjects/"+name+"/"+ref.ID, body, nil); err != nil {
			return nil, err
		}
	}
	return c.GetRecord(ctx, tenant, ref)
}

// DeleteRecord implements crm.Records.
func (c *Connector) DeleteRecord(ctx context.Context, tenant string, ref crm.Ref) error {
	name, err := c.objectName(ref.Object)
	if err != nil {
		return err
	}
	if err := checkID(ref.ID); err != nil {
		return fmt.Errorf("salesforce: %s %q: %w", ref.Object, ref.ID, crm.ErrNotFound)
	}
	return c.write(ctx, tenant, http.MethodDelete, "sobjects/"+name+"/"+ref.ID, nil, nil)
}
