package mailauth

// XOAuth2Client is the SASL XOAUTH2 client mechanism of Google and
// Microsoft: one initial response "user=" User ^A "auth=Bearer " Token ^A
// ^A. go-sasl has OAUTHBEARER (RFC 7628) but not this older mechanism,
// which is the one both providers document for IMAP and SMTP.
type XOAuth2Client struct {
	User, Token string
	// Challenge is the server's JSON error, when it sent one (a refused
	// token: {"status":"401","schemes":"bearer","scope":"mail"}).
	Challenge string
}

// Start implements sasl.Client.
func (a *XOAuth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + a.User + "\x01auth=Bearer " + a.Token + "\x01\x01"), nil
}

// Next implements sasl.Client: a challenge after the initial response is a
// JSON error; the client answers empty and the server then fails the
// command.
func (a *XOAuth2Client) Next(challenge []byte) ([]byte, error) {
	a.Challenge = string(challenge)
	return []byte{}, nil
}
