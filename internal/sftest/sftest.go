// Package sftest is a local server speaking Salesforce's documented wire
// format, for tests: the OAuth 2.0 web server flow with PKCE and the
// refresh-token flow (/services/oauth2/authorize, /services/oauth2/token,
// with instance_url, id, issued_at and signature), the identity URL, and
// the REST API (/services/data/vXX.X/: query with nextRecordsUrl paging,
// sobject create, read, update, delete and describe, limits), with the
// REST error array, 401 INVALID_SESSION_ID for expired tokens,
// REQUEST_LIMIT_EXCEEDED and the Sforce-Limit-Info header. It is written
// from Salesforce's REST API Developer Guide and the OAuth reference, not
// from sidedesk's client.
package sftest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the fake org. Use New; every method is safe for concurrent use.
type Server struct {
	*httptest.Server

	ClientID, ClientSecret, RedirectURI string
	OrgID                               string

	mu       sync.Mutex
	version  string
	objects  map[string]*object
	seq      int
	users    map[string]Record  // id → User
	approver string             // the user who consents at /authorize
	codes    map[string]grant   // authorization code → grant
	refresh  map[string]string  // refresh token → user id
	access   map[string]session // access token → session
	cursors  map[string][]Record
	latency  time.Duration
	// BatchSize is the query page size (Salesforce: 2,000 by default).
	batch    int
	used     int
	max      int
	rotate   bool
	requests []string
	// fls is field-level security for every user: "Object.Field" →
	// "hidden" (not in describe, not writable) or "readonly".
	fls map[string]string
	// rules are the org's validation rules (AddValidationRule).
	rules []validationRule
	// jwtKeys are the users pre-authorised for the JWT bearer flow, by
	// username, with the public key of the connected app's certificate.
	jwtKeys map[string]*rsa.PublicKey
	// noSemiJoins refuses queries with a semi-join (RefuseSemiJoins).
	noSemiJoins bool
}

type grant struct {
	user, challenge, redirect string
	expires                   time.Time
}

type session struct {
	user    string
	expired bool
}

// New starts a fake org with one user (Approver) and an empty set of
// records of the standard objects.
func New() *Server {
	s := &Server{
		ClientID: "3MVG9fake.client.id", ClientSecret: "fake-consumer-secret", OrgID: "00D5g000000FAKEEAQ",
		version: "v62.0", objects: map[string]*object{}, users: map[string]Record{},
		codes: map[string]grant{}, refresh: map[string]string{}, access: map[string]session{},
		cursors: map[string][]Record{}, batch: 2000, max: 15000,
	}
	for _, o := range schema() {
		s.objects[strings.ToLower(o.Name)] = o
	}
	for i, st := range []string{"Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"} {
		o := s.objects["leadstatus"]
		o.rows = append(o.rows, Record{"Id": s.newID(o.Prefix), "MasterLabel": st, "IsConverted": i == 2, "SortOrder": float64(i + 1)})
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	s.approver = s.AddUser("Ana Agent", "ana@acme.example")
	return s
}

// SetBatchSize sets the query page size (for nextRecordsUrl paging).
func (s *Server) SetBatchSize(n int) { s.mu.Lock(); s.batch = n; s.mu.Unlock() }

// SetLatency delays every answer by d.
func (s *Server) SetLatency(d time.Duration) { s.mu.Lock(); s.latency = d; s.mu.Unlock() }

// SetAPILimit sets the org's daily API request allowance and what is used.
func (s *Server) SetAPILimit(used, max int) { s.mu.Lock(); s.used, s.max = used, max; s.mu.Unlock() }

// RotateRefreshTokens makes each refresh answer a new refresh token and
// revoke the old one (the connected app's refresh token rotation).
func (s *Server) RotateRefreshTokens(on bool) { s.mu.Lock(); s.rotate = on; s.mu.Unlock() }

// ExpireSessions expires every access token: the next API call answers
// 401 INVALID_SESSION_ID.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.access {
		v.expired = true
		s.access[k] = v
	}
}

// RevokeRefreshTokens revokes every refresh token (a user removed the
// app's access): the next refresh answers invalid_grant.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
}

// AddUser adds a User and returns its id.
func (s *Server) AddUser(name, email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID("005")
	s.users[id] = Record{"Id": id, "Name": name, "Email": email, "Username": email}
	s.objects["user"].rows = append(s.objects["user"].rows, s.users[id])
	return id
}

// TrustJWTKey pre-authorises the user with username (AddUser's email) for
// the JWT bearer flow, with pub the key of the certificate uploaded to the
// connected app.
func (s *Server) TrustJWTKey(username string, pub *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jwtKeys == nil {
		s.jwtKeys = map[string]*rsa.PublicKey{}
	}
	s.jwtKeys[username] = pub
}

// jwtUser checks a JWT bearer assertion (RS256; iss the consumer key, aud
// this login host, exp within 5 minutes) and returns its user's id; s.mu
// is held.
func (s *Server) jwtUser(assertion string) (string, string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "", "invalid assertion"
	}
	enc := base64.RawURLEncoding
	var head struct{ Alg string }
	var claims struct {
		Iss, Sub, Aud string
		Exp           int64
	}
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &head) != nil || json.Unmarshal(cb, &claims) != nil || head.Alg != "RS256" {
		return "", "invalid assertion"
	}
	pub := s.jwtKeys[claims.Sub]
	if pub == nil {
		return "", "user hasn't approved this consumer"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return "", "invalid assertion"
	}
	now := time.Now().Unix()
	if claims.Iss != s.ClientID {
		return "", "invalid client credentials"
	}
	if claims.Aud != s.URL {
		return "", "audience is invalid"
	}
	if claims.Exp < now || claims.Exp > now+300 {
		return "", "expired authorization code"
	}
	for id, u := range s.users {
		if u["Username"] == claims.Sub {
			return id, ""
		}
	}
	return "", "user hasn't approved this consumer"
}

// AddField adds a custom field (name ending in __c) to obj, as an admin
// does in Setup.
// required makes it required on create (not nillable, no default);
// picklist values make a restricted picklist.
func (s *Server) AddField(obj, name, typ, label string, required bool, picklist ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[strings.ToLower(obj)]
	o.Fields = append(o.Fields, field{Name: name, Type: typ, Label: label, Required: required, Picklist: picklist})
}

// RefuseSemiJoins makes queries with an "IN (SELECT ...)" fail with
// MALFORMED_QUERY, as a proxy or a stricter implementation might.
func (s *Server) RefuseSemiJoins(on bool) { s.mu.Lock(); s.noSemiJoins = on; s.mu.Unlock() }

// SetFieldAccess sets a field's field-level security for every user:
// "hidden" (absent from describe, refused on write), "readonly" (in
// describe with updateable false, refused on write) or "" (editable).
func (s *Server) SetFieldAccess(obj, field, access string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fls == nil {
		s.fls = map[string]string{}
	}
	s.fls[strings.ToLower(obj+"."+field)] = access
}

func (s *Server) fieldAccess(obj, field string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fieldAccessLocked(obj, field)
}

// fieldAccessLocked is fieldAccess with s.mu held.
func (s *Server) fieldAccessLocked(obj, field string) string {
	return s.fls[strings.ToLower(obj+"."+field)]
}

// ApproveAs makes user id the one who consents at /authorize.
func (s *Server) ApproveAs(id string) { s.mu.Lock(); s.approver = id; s.mu.Unlock() }

// Insert adds a record of object obj with the fields given and returns
// its id (fields are taken as given: no validation).
func (s *Server) Insert(obj string, fields Record) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[strings.ToLower(obj)]
	r := Record{}
	for _, f := range o.Fields {
		r[f.Name] = f.DefaultVal
	}
	for k, v := range fields {
		f, ok := o.field(k)
		if !ok {
			panic("sftest: no field " + k + " on " + obj)
		}
		r[f.Name] = v
	}
	r["Id"] = s.newID(o.Prefix)
	now := time.Now().UTC().Format(dateTimeFormat)
	for _, k := range []string{"CreatedDate", "LastModifiedDate"} {
		if _, set := fields[k]; !set {
			r[k] = now
		}
	}
	if _, has := o.field("OwnerId"); has && r["OwnerId"] == nil {
		r["OwnerId"] = s.approver
	}
	derive(o, r)
	o.rows = append(o.rows, r)
	return r["Id"].(string)
}

// Get returns a copy of a record, or nil.
func (s *Server) Get(obj, id string) Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.objects[strings.ToLower(obj)].byID(id)
	if r == nil {
		return nil
	}
	out := Record{}
	for k, v := range r {
		out[k] = v
	}
	return out
}

// Rows returns copies of every record of obj.
func (s *Server) Rows(obj string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for _, r := range s.objects[strings.ToLower(obj)].rows {
		c := Record{}
		for k, v := range r {
			c[k] = v
		}
		out = append(out, c)
	}
	return out
}

// Requests lists "METHOD path" of the API requests served so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// newID makes an 18-character id with its case-safe checksum suffix.
func (s *Server) newID(prefix string) string {
	s.seq++
	base := prefix + fmt.Sprintf("5g%010d", s.seq)
	base = base[:15]
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	var suffix []byte
	for chunk := 0; chunk < 3; chunk++ {
		bits := 0
		for i := 0; i < 5; i++ {
			if c := base[chunk*5+i]; c >= 'A' && c <= 'Z' {
				bits |= 1 << i
			}
		}
		suffix = append(suffix, alpha[bits])
	}
	return base + string(suffix)
}

func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	d := s.latency
	s.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
	switch {
	case r.URL.Path == "/services/oauth2/authorize":
		s.authorize(w, r)
	case r.URL.Path == "/services/oauth2/token":
		s.token(w, r)
	case strings.HasPrefix(r.URL.Path, "/id/"):
		s.identity(w, r)
	case r.URL.Path == "/services/data" || r.URL.Path == "/services/data/":
		s.versions(w)
	case strings.HasPrefix(r.URL.Path, "/services/Soap/u/"):
		s.soap(w, r)
	case strings.HasPrefix(r.URL.Path, "/services/data/"):
		s.api(w, r)
	default:
		http.NotFound(w, r)
	}
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// authorize is the consent page: it approves at once, as the approver,
// redirecting to redirect_uri with code and state (or with error).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.ClientID {
		oauthError(w, 400, "invalid_client_id", "client identifier invalid")
		return
	}
	if s.RedirectURI != "" && q.Get("redirect_uri") != s.RedirectURI {
		oauthError(w, 400, "redirect_uri_mismatch", "redirect_uri must match configuration")
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme == "" {
		oauthError(w, 400, "invalid_request", "invalid redirect_uri")
		return
	}
	back := redirect.Query()
	if q.Get("response_type") != "code" {
		back.Set("error", "unsupported_response_type")
		back.Set("error_description", "response type not supported")
	} else if q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "" && q.Get("code_challenge_method") != "S256" {
		back.Set("error", "invalid_request")
		back.Set("error_description", "invalid code_challenge_method")
	} else {
		s.mu.Lock()
		code := "aPrx" + randToken(24)
		s.codes[code] = grant{user: s.approver, challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), expires: time.Now().Add(15 * time.Minute)}
		s.mu.Unlock()
		back.Set("code", code)
	}
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token is /services/oauth2/token: authorization_code and refresh_token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, 405, "invalid_request", "must use HTTP POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, 400, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	jwt := f.Get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer"
	if !jwt && f.Get("client_id") != s.ClientID {
		oauthError(w, 400, "invalid_client_id", "client identifier invalid")
		return
	}
	if !jwt && f.Get("client_secret") != s.ClientSecret {
		oauthError(w, 400, "invalid_client", "invalid client credentials")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var user, newRefresh string
	switch f.Get("grant_type") {
	case "authorization_code":
		g, ok := s.codes[f.Get("code")]
		delete(s.codes, f.Get("code")) // a code is good once
		if !ok || time.Now().After(g.expires) {
			oauthError(w, 400, "invalid_grant", "invalid authorization code")
			return
		}
		if f.Get("redirect_uri") != g.redirect {
			oauthError(w, 400, "redirect_uri_mismatch", "redirect_uri must match the authorization request")
			return
		}
		if g.challenge != "" {
			sum := sha256.Sum256([]byte(f.Get("code_verifier")))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
				oauthError(w, 400, "invalid_grant", "invalid code verifier")
				return
			}
		}
		user = g.user
		newRefresh = "5Aep" + randToken(32)
		s.refresh[newRefresh] = user
	case "refresh_token":
		u, ok := s.refresh[f.Get("refresh_token")]
		if !ok {
			oauthError(w, 400, "invalid_grant", "expired access/refresh token")
			return
		}
		user = u
		if s.rotate {
			delete(s.refresh, f.Get("refresh_token"))
			newRefresh = "5Aep" + randToken(32)
			s.refresh[newRefresh] = user
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		u, bad := s.jwtUser(f.Get("assertion"))
		if bad != "" {
			oauthError(w, 400, "invalid_grant", bad)
			return
		}
		user = u // no refresh token in this flow
	default:
		oauthError(w, 400, "unsupported_grant_type", "grant type not supported")
		return
	}
	access := s.OrgID[:15] + "!AQ" + randToken(40)
	s.access[access] = session{user: user}
	id := s.URL + "/id/" + s.OrgID + "/" + user
	issued := strconv.FormatInt(time.Now().UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte(s.ClientSecret))
	m.Write([]byte(id + issued))
	body := map[string]string{
		"access_token": access, "instance_url": s.URL, "id": id, "token_type": "Bearer",
		"issued_at": issued, "signature": base64.StdEncoding.EncodeToString(m.Sum(nil)),
		"scope": "api refresh_token id",
	}
	if newRefresh != "" {
		body["refresh_token"] = newRefresh
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
	json.NewEncoder(w).Encode(body)
}

// authed checks the bearer token; it answers 401 itself.
func (s *Server) authed(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	sess, found := s.access[tok]
	s.mu.Unlock()
	if !ok || !found || sess.expired {
		w.Header().Set("WWW-Authenticate", `Token`)
		apiErrors(w, 401, apiErr{"INVALID_SESSION_ID", "Session expired or invalid", nil})
		return "", false
	}
	return sess.user, true
}

func (s *Server) identity(w http.ResponseWriter, r *http.Request) {
	user, ok := s.authed(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	u := s.users[user]
	s.mu.Unlock()
	if !strings.HasSuffix(r.URL.Path, "/"+user) {
		oauthError(w, 403, "Bad_Id", "Bad_Id")
		return
	}
	writeJSON(w, 200, map[string]any{
		"id": s.URL + r.URL.Path, "user_id": user, "organization_id": s.OrgID,
		"username": u["Username"], "email": u["Email"], "display_name": u["Name"], "active": true,
		"urls": map[string]string{
			"rest":     s.URL + "/services/data/v{version}/",
			"sobjects": s.URL + "/services/data/v{version}/sobjects/",
			"query":    s.URL + "/services/data/v{version}/query/",
		},
	})
}

func (s *Server) versions(w http.ResponseWriter) {
	var out []map[string]string
	for _, v := range []string{"60.0", "61.0", "62.0"} {
		out = append(out, map[string]string{"label": "Winter '25", "url": "/services/data/v" + v, "version": v})
	}
	writeJSON(w, 200, out)
}

type apiErr struct {
	code, msg string
	fields    []string
}

// apiErrors writes the REST error array.
func apiErrors(w http.ResponseWriter, status int, errs ...apiErr) {
	var out []map[string]any
	for _, e := range errs {
		m := map[string]any{"message": e.msg, "errorCode": e.code}
		if e.fields != nil {
			m["fields"] = e.fields
		}
		out = append(out, m)
	}
	writeJSON(w, status, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// dateTimeFormat is how the REST API renders a datetime field.
const dateTimeFormat = "2006-01-02T15:04:05.000+0000"

// validationRule is one of the org's validation rules: a record for
// which bad is true is refused with message, at field.
type validationRule struct {
	obj, field, message string
	bad                 func(Record) bool
}

// AddValidationRule adds a validation rule to obj: a create or update
// whose resulting record makes bad true is refused with 400
// FIELD_CUSTOM_VALIDATION_EXCEPTION, message and field (the rule's error
// location) in the error array, as Salesforce answers.
func (s *Server) AddValidationRule(obj, field, message string, bad func(Record) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, validationRule{obj: strings.ToLower(obj), field: field, message: message, bad: bad})
}

// violated is the first rule rec breaks; s.mu is held.
func (s *Server) violated(obj string, rec Record) *apiErr {
	for _, r := range s.rules {
		if r.obj == strings.ToLower(obj) && r.bad(rec) {
			var fields []string
			if r.field != "" {
				fields = []string{r.field}
			}
			return &apiErr{"FIELD_CUSTOM_VALIDATION_EXCEPTION", r.message, fields}
		}
	}
	return nil
}
