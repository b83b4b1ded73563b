package salesforce

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// The OAuth 2.0 JWT bearer flow (RFC 7523) for an integration user: the
// connected app holds the certificate of KeyPEM's public key and the user
// is pre-authorised, so org-level look-ups (Slack alerts, API
// tokens) need no agent's consent. The assertion lives 3 minutes; each new
// access token is a new assertion (the flow issues no refresh token).

// JWTOptions configure the JWT bearer flow.
type JWTOptions struct {
	Username string // the integration user's Salesforce username
	KeyPEM   []byte // its RSA private key, PEM (PKCS #1 or PKCS #8)
}

// jwtAgent is the actor name of the integration user's session.
func jwtAgent(username string) string { return "jwt:" + username }

func parseRSAKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("salesforce: the JWT key is not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("salesforce: the JWT key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("salesforce: the JWT key must be an RSA key (RS256)")
	}
	return rk, nil
}

// assertion is the signed JWT: iss = consumer key, sub = username, aud =
// the login host, exp = now + 3 min.
func (c *Connector) assertion() (string, error) {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"iss": c.opts.ClientID, "sub": c.opts.JWT.Username,
		"aud": c.login.String(), "exp": c.opts.Now().Add(3 * time.Minute).Unix()})
	signing := head + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.jwtKey, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// jwtToken gets an access token for the integration user; s.mu is held.
func (c *Connector) jwtToken(ctx context.Context, s *agentSession) (string, string, error) {
	a, err := c.assertion()
	if err != nil {
		return "", "", err
	}
	tr, err := c.tokenRequest(ctx, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {a}})
	var oe *OAuthError
	if errors.As(err, &oe) {
		hint := ""
		if strings.Contains(oe.Description, "approved") || oe.Code == "invalid_grant" {
			hint = ": pre-authorise the user for the connected app (Admin approved users) and upload the key's certificate"
		}
		return "", "", fmt.Errorf("salesforce: JWT bearer for %s refused (%s: %s)%s", c.opts.JWT.Username, oe.Code, oe.Description, hint)
	}
	if err != nil {
		return "", "", err
	}
	s.access, s.instanceURL = tr.AccessToken, tr.InstanceURL
	return s.access, s.instanceURL, nil
}
