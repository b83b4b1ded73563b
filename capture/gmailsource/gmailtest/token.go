package gmailtest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// token is the OAuth 2.0 token endpoint (RFC 6749 §4.1.3/§6 refresh_token
// grant; RFC 7523 §2.1 JWT-bearer grant as Google service accounts use it).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.takeFault("token", ""); f != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, `{"error":"temporarily_unavailable","error_description":"injected fault"}`)
		return
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request", err.Error())
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		id, secret, ok := r.BasicAuth()
		if !ok { // RFC 6749 §2.3.1 also allows the body
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if (s.opts.ClientID != "" && id != s.opts.ClientID) || (s.opts.ClientSecret != "" && secret != s.opts.ClientSecret) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"The OAuth client was not found."}`)
			return
		}
		if rt := r.PostForm.Get("refresh_token"); rt == "" || (s.opts.RefreshToken != "" && rt != s.opts.RefreshToken) {
			tokenError(w, "invalid_grant", "Token has been expired or revoked.")
			return
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		sub, scope, err := s.checkAssertion(r.PostForm.Get("assertion"))
		if err != nil {
			tokenError(w, "invalid_grant", err.Error())
			return
		}
		s.subjects = append(s.subjects, sub)
		s.scopes = append(s.scopes, scope)
	default:
		tokenError(w, "unsupported_grant_type", "Invalid grant_type")
		return
	}
	s.nextTok++
	tok := fmt.Sprintf("ya29.fake-%d", s.nextTok)
	s.tokens[tok] = time.Now().Add(s.opts.TokenLifetime)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(s.opts.TokenLifetime / time.Second),
	})
}

func tokenError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// checkAssertion decodes a JWT-bearer assertion, verifies its RS256
// signature when Options.ServiceAccountKey is set, and returns its "sub"
// and "scope" claims.
func (s *Server) checkAssertion(jwt string) (sub, scope string, err error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", "", fmt.Errorf("malformed assertion")
	}
	if k := s.opts.ServiceAccountKey; k != nil {
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return "", "", fmt.Errorf("bad signature encoding")
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig); err != nil {
			//lint:ignore ST1005 Google's token endpoint answers with exactly this text.
			return "", "", fmt.Errorf("Invalid JWT Signature.")
		}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "", fmt.Errorf("bad claims encoding")
	}
	var claims struct {
		Iss, Sub, Scope, Aud string
		Exp                  int64
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", "", fmt.Errorf("bad claims: %v", err)
	}
	if claims.Iss == "" || claims.Scope == "" || time.Unix(claims.Exp, 0).Before(time.Now()) {
		//lint:ignore ST1005 mirrors the capitalised error text of Google's token endpoint.
		return "", "", fmt.Errorf("Invalid JWT: missing iss/scope or expired")
	}
	return claims.Sub, claims.Scope, nil
}
