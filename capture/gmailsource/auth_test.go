package gmailsource

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/sidedesk/sidedesk/capture/gmailsource/gmailtest"
)

func TestOAuthRefreshToken(t *testing.T) {
	fake := gmailtest.New(gmailtest.Options{
		RequireAuth: true, ClientID: "cid", ClientSecret: "csecret", RefreshToken: "1//refresh",
		TokenLifetime: 5 * time.Second, // inside oauth2's 10 s early-refresh margin: every use refreshes
	})
	defer fake.Close()
	e := newEnv(t)
	ctx := context.Background()
	client, err := NewHTTPClient(ctx, AuthOptions{Kind: "oauth", ClientID: "cid", ClientSecret: "csecret",
		RefreshToken: "1//refresh", TokenURL: fake.TokenURL(), HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := newSource(t, e, fake, func(o *Options) { o.HTTPClient = client })
	if err := src.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	fake.AddMessage("me", gmailtest.Corpus(1)[0])
	if st := mustOnce(t, src); st.New != 1 {
		t.Fatalf("%+v", st)
	}
	if n := fake.Requests()["token"]; n < 2 {
		t.Fatalf("%d token requests, want the token refreshed automatically", n)
	}

	// A revoked refresh token: Check says what to fix.
	bad, err := NewHTTPClient(ctx, AuthOptions{ClientID: "cid", ClientSecret: "csecret",
		RefreshToken: "revoked", TokenURL: fake.TokenURL(), HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	src2, _ := newSource(t, e, fake, func(o *Options) { o.HTTPClient = bad })
	err = src2.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") || !strings.Contains(err.Error(), "check client_id") {
		t.Fatalf("Check with revoked token = %v", err)
	}
	if strings.Contains(err.Error(), "csecret") {
		t.Fatal("error leaks the client secret")
	}
}

func TestServiceAccountImpersonation(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	fake := gmailtest.New(gmailtest.Options{RequireAuth: true, ServiceAccountKey: &key.PublicKey})
	defer fake.Close()
	creds, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "acme",
		"private_key_id": "k1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "sidedesk@acme.iam.gserviceaccount.com",
		"client_id":      "123",
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
	for i, modify := range []bool{false, true, false} {
		client, err := NewHTTPClient(context.Background(), AuthOptions{Kind: "service_account", CredentialsJSON: creds,
			Subject: fake.User(), TokenURL: fake.TokenURL(), HTTPClient: fake.Client(), Modify: modify, Send: i == 2})
		if err != nil {
			t.Fatal(err)
		}
		src, _ := newSource(t, newEnv(t), fake, func(o *Options) { o.HTTPClient = client; o.User = fake.User() })
		if err := src.Check(context.Background()); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	subs, scopes := fake.Subjects(), fake.Scopes()
	if len(subs) != 3 || subs[0] != fake.User() {
		t.Fatalf("subjects %v, want the mailbox impersonated", subs)
	}
	if scopes[0] != "https://www.googleapis.com/auth/gmail.readonly" || scopes[1] != "https://www.googleapis.com/auth/gmail.modify" ||
		scopes[2] != "https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.send" {
		t.Fatalf("scopes %v", scopes)
	}
}

func TestNewHTTPClientValidates(t *testing.T) {
	tests := []struct {
		name string
		a    AuthOptions
		want string
	}{
		{"oauth missing", AuthOptions{Kind: "oauth", ClientID: "x"}, "refresh token"},
		{"sa no creds", AuthOptions{Kind: "service_account", Subject: "a@b"}, "credentials"},
		{"sa no subject", AuthOptions{Kind: "service_account", CredentialsJSON: []byte("{}")}, "impersonate"},
		{"sa bad json", AuthOptions{Kind: "service_account", CredentialsJSON: []byte(`{"type":"authorized_user"}`), Subject: "a@b"}, "service account"},
		{"kind", AuthOptions{Kind: "password"}, "unknown auth kind"},
	}
	for _, tc := range tests {
		if _, err := NewHTTPClient(context.Background(), tc.a); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want error containing %q", tc.name, err, tc.want)
		}
	}
}
