package salesforce

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sidedesk/sidedesk/crm"
)

// ConvertLead implements crm.LeadConverter with the SOAP partner API's
// convertLead (the REST API has no standard convert action), as the
// agent: the lead becomes a contact on a new account (or c.AccountID), and
// an opportunity when c.OpportunityName is set. The converted status is
// the org's own (the LeadStatus marked converted).
func (c *Connector) ConvertLead(ctx context.Context, tenant string, conv crm.Conversion) (crm.Converted, error) {
	if err := checkID(conv.LeadID); err != nil {
		return crm.Converted{}, err
	}
	if conv.AccountID != "" {
		if err := checkID(conv.AccountID); err != nil {
			return crm.Converted{}, err
		}
	}
	var statuses []struct{ MasterLabel string }
	if err := c.query(ctx, tenant, "SELECT MasterLabel FROM LeadStatus WHERE IsConverted = true ORDER BY SortOrder LIMIT 1", decodeInto(&statuses)); err != nil {
		return crm.Converted{}, err
	}
	if len(statuses) == 0 {
		return crm.Converted{}, fmt.Errorf("salesforce: the org has no converted lead status: %w", crm.ErrUnsupported)
	}
	var b strings.Builder
	el := func(name, v string) {
		b.WriteString("<urn:" + name + ">")
		_ = xml.EscapeText(&b, []byte(v))
		b.WriteString("</urn:" + name + ">")
	}
	if conv.AccountID != "" {
		el("accountId", conv.AccountID)
	}
	el("convertedStatus", statuses[0].MasterLabel)
	el("doNotCreateOpportunity", fmt.Sprint(strings.TrimSpace(conv.OpportunityName) == ""))
	el("leadId", conv.LeadID)
	if name := strings.TrimSpace(conv.OpportunityName); name != "" {
		el("opportunityName", truncate(name, 120))
	}
	el("overwriteLeadSource", "false")
	el("sendNotificationEmail", "false")
	var res struct {
		Result struct {
			AccountID     string `xml:"accountId"`
			ContactID     string `xml:"contactId"`
			OpportunityID string `xml:"opportunityId"`
			Success       bool   `xml:"success"`
			Errors        []struct {
				Message    string   `xml:"message"`
				StatusCode string   `xml:"statusCode"`
				Fields     []string `xml:"fields"`
			} `xml:"errors"`
		} `xml:"Body>convertLeadResponse>result"`
	}
	if err := c.soap(ctx, tenant, "<urn:convertLead><urn:leadConverts>"+b.String()+"</urn:leadConverts></urn:convertLead>", &res); err != nil {
		return crm.Converted{}, err
	}
	r := res.Result
	if !r.Success {
		ae := &APIError{Status: http.StatusBadRequest}
		for _, e := range r.Errors {
			ae.Errors = append(ae.Errors, APIErrorItem{ErrorCode: e.StatusCode, Message: e.Message, Fields: e.Fields})
		}
		return crm.Converted{}, refused(ae)
	}
	c.dropCacheOf(ctx, tenant)
	return crm.Converted{AccountID: r.AccountID, ContactID: r.ContactID, OpportunityID: r.OpportunityID}, nil
}

// soap posts one partner API call with the agent's session (withSession:
// refreshed once on INVALID_SESSION_ID, paused by the API limit, as REST
// calls are) and decodes the answer.
func (c *Connector) soap(ctx context.Context, tenant, body string, out any) error {
	version := strings.TrimPrefix(c.opts.APIVersion, "v")
	return c.withSession(ctx, tenant, func(access, instance string) (bool, error) {
		var env bytes.Buffer
		env.WriteString(`<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader><urn:sessionId>`)
		_ = xml.EscapeText(&env, []byte(access))
		env.WriteString(`</urn:sessionId></urn:SessionHeader></soapenv:Header><soapenv:Body>` + body + `</soapenv:Body></soapenv:Envelope>`)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(instance, "/")+"/services/Soap/u/"+version, &env)
		if err != nil {
			return false, err
		}
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.Header.Set("SOAPAction", `""`)
		res, err := c.opts.HTTP.Do(req)
		if err != nil {
			return false, fmt.Errorf("salesforce: SOAP: %w", err)
		}
		data, rerr := io.ReadAll(io.LimitReader(res.Body, 4<<20))
		res.Body.Close()
		if rerr != nil {
			return false, fmt.Errorf("salesforce: SOAP: reading the answer: %w", rerr)
		}
		if res.StatusCode == http.StatusOK {
			if err := xml.Unmarshal(data, out); err != nil {
				return false, fmt.Errorf("salesforce: SOAP answer we cannot read: %w", err)
			}
			return false, nil
		}
		var fault struct {
			Code   string `xml:"Body>Fault>faultcode"`
			String string `xml:"Body>Fault>faultstring"`
		}
		_ = xml.Unmarshal(data, &fault)
		code := fault.Code[strings.IndexByte(fault.Code, ':')+1:]
		if code == "" {
			code = fmt.Sprintf("HTTP_%d", res.StatusCode)
		}
		ae := &APIError{Status: res.StatusCode, Errors: []APIErrorItem{{ErrorCode: code, Message: fault.String}}}
		if code == "INVALID_SESSION_ID" {
			return true, ae
		}
		return false, c.limited(ae)
	})
}

var _ crm.LeadConverter = (*Connector)(nil)
