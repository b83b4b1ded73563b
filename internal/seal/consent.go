package seal

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// Consent is the state an OAuth authorization-code flow carries through
// the browser (the state parameter): the PKCE verifier, whom the flow is
// for and where to return, sealed so any instance can complete the flow
// and nobody can read or forge it.
type Consent struct {
	Verifier string `json:"v"`
	Tenant   string `json:"t"`
	Agent    string `json:"a"`
	// Subject is what is being connected beyond the agent (a mailbox);
	// "" when the agent's own account is.
	Subject string `json:"s,omitempty"`
	Return  string `json:"r,omitempty"`
	Expires int64  `json:"e"`
}

// SealConsent seals c for purpose as a URL-safe state parameter.
func (b *Box) SealConsent(c Consent, purpose string) string {
	plain, _ := json.Marshal(c) // strings and an int: cannot fail
	return base64.RawURLEncoding.EncodeToString(b.Seal(plain, purpose))
}

// OpenConsent opens a state SealConsent made for purpose, for tenant's
// agent, not expired at now; ok is false for any other (forged, another
// agent's or tenant's, expired, damaged).
func (b *Box) OpenConsent(state, purpose, tenant, agent string, now time.Time) (c Consent, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil {
		return c, false
	}
	plain, err := b.Open(raw, purpose)
	if err != nil || json.Unmarshal(plain, &c) != nil {
		return Consent{}, false
	}
	if c.Tenant != tenant || c.Agent != agent || now.Unix() > c.Expires {
		return Consent{}, false
	}
	return c, true
}
