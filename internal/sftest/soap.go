package sftest

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The SOAP partner API's convertLead (/services/Soap/u/XX.X), the one
// standard way to convert a lead, since REST has no convert action. The
// session id travels in the SessionHeader; an expired one is a SOAP fault
// sf:INVALID_SESSION_ID (HTTP 500), a refused conversion a result with
// success false and its errors.

type soapEnvelope struct {
	Header struct {
		SessionID string `xml:"SessionHeader>sessionId"`
	} `xml:"Header"`
	Body struct {
		ConvertLead *struct {
			LeadConverts []soapLeadConvert `xml:"leadConverts"`
		} `xml:"convertLead"`
	} `xml:"Body"`
}

type soapLeadConvert struct {
	AccountID              string `xml:"accountId"`
	ConvertedStatus        string `xml:"convertedStatus"`
	DoNotCreateOpportunity bool   `xml:"doNotCreateOpportunity"`
	LeadID                 string `xml:"leadId"`
	OpportunityName        string `xml:"opportunityName"`
}

func soapFault(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault><faultcode>sf:%s</faultcode><faultstring>%s: %s</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`,
		code, code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *Server) soap(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") || r.Header.Get("SOAPAction") == "" && r.Header.Values("SOAPAction") == nil {
		soapFault(w, "INVALID_REQUEST", "POST text/xml with a SOAPAction header")
		return
	}
	var env soapEnvelope
	if err := xml.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&env); err != nil {
		soapFault(w, "INVALID_XML", err.Error())
		return
	}
	s.mu.Lock()
	sess, ok := s.access[env.Header.SessionID]
	s.mu.Unlock()
	if !ok || sess.expired {
		soapFault(w, "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
		return
	}
	if env.Body.ConvertLead == nil {
		soapFault(w, "UNKNOWN_EXCEPTION", "this fake speaks convertLead only")
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, "POST "+r.URL.Path+" convertLead")
	var out strings.Builder
	for _, lc := range env.Body.ConvertLead.LeadConverts {
		out.WriteString(s.convert(lc, sess.user))
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><convertLeadResponse>%s</convertLeadResponse></soapenv:Body></soapenv:Envelope>`, out.String())
}

// convert converts one lead; s.mu is held.
func (s *Server) convert(lc soapLeadConvert, user string) string {
	fail := func(code, msg string) string {
		return fmt.Sprintf(`<result><errors><message>%s</message><statusCode>%s</statusCode></errors><leadId>%s</leadId><success>false</success></result>`,
			xmlEscape(msg), code, xmlEscape(lc.LeadID))
	}
	leads := s.objects["lead"]
	lead := leads.byID(lc.LeadID)
	switch {
	case lead == nil:
		return fail("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
	case lead["IsConverted"] == true:
		return fail("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
	}
	converted := false
	for _, st := range s.objects["leadstatus"].rows {
		if st["MasterLabel"] == lc.ConvertedStatus && st["IsConverted"] == true {
			converted = true
		}
	}
	if !converted {
		return fail("INVALID_STATUS", "invalid convertedStatus: "+lc.ConvertedStatus)
	}
	now := time.Now().UTC().Format(dateTimeFormat)
	add := func(obj string, rec Record) string {
		o := s.objects[strings.ToLower(obj)]
		rec["Id"] = s.newID(o.Prefix)
		rec["OwnerId"], rec["CreatedDate"], rec["LastModifiedDate"] = user, now, now
		derive(o, rec)
		o.rows = append(o.rows, rec)
		return rec["Id"].(string)
	}
	acct := lc.AccountID
	if acct == "" {
		acct = add("Account", Record{"Name": lead["Company"]})
	} else if s.objects["account"].byID(acct) == nil {
		return fail("INVALID_CROSS_REFERENCE_KEY", "invalid account id")
	}
	contact := add("Contact", Record{"FirstName": lead["FirstName"], "LastName": lead["LastName"], "Email": lead["Email"], "AccountId": acct})
	opp := `<opportunityId xsi:nil="true"/>`
	if !lc.DoNotCreateOpportunity {
		name := lc.OpportunityName
		if name == "" {
			name, _ = lead["Company"].(string)
			name += "-"
		}
		id := add("Opportunity", Record{"Name": name, "StageName": "Prospecting", "IsClosed": false,
			"CloseDate": time.Now().AddDate(0, 1, 0).Format(time.DateOnly), "AccountId": acct})
		opp = "<opportunityId>" + id + "</opportunityId>"
	}
	lead["IsConverted"], lead["Status"], lead["LastModifiedDate"] = true, lc.ConvertedStatus, now
	return fmt.Sprintf(`<result><accountId>%s</accountId><contactId>%s</contactId><leadId>%s</leadId>%s<success>true</success></result>`,
		acct, contact, lc.LeadID, opp)
}
