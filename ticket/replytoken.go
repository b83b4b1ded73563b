package ticket

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
)

// replySigLen is how many base32 characters of the HMAC a token carries:
// 50 bits, far beyond guessing by mail, short enough for a local part
// (RFC 5321 §4.5.3.1.1 allows 64 octets).
const replySigLen = 10

var replySigEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// replySig is the first replySigLen characters of lower-case, unpadded
// base32 of HMAC-SHA256(secret, tenant + "\x00" + decimal number).
func replySig(secret []byte, tenant string, number int64) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(tenant + "\x00" + strconv.FormatInt(number, 10)))
	return strings.ToLower(replySigEncoding.EncodeToString(m.Sum(nil))[:replySigLen])
}

// ReplyAddress returns the signed reply address of ticket number for
// outbound mail: base "support@example.com" becomes
// "support+t123.<sig>@example.com" (a subaddress, the part after "+" that
// mail servers deliver to the base mailbox). A base without "@" is taken as
// a bare local part. Without a secret, or for a number < 1, it returns base
// unchanged: no token can be made. Tenant "" means DefaultTenant.
func ReplyAddress(secret []byte, tenant string, number int64, base string) string {
	if len(secret) == 0 || number < 1 {
		return base
	}
	if tenant == "" {
		tenant = DefaultTenant
	}
	local, domain := base, ""
	if i := strings.LastIndexByte(base, '@'); i >= 0 {
		local, domain = base[:i], base[i:]
	}
	return local + "+t" + strconv.FormatInt(number, 10) + "." + replySig(secret, tenant, number) + domain
}

// ParseReplyToken reads the ticket number from a reply address made by
// ReplyAddress for the same secret and tenant. addr may be bare or in angle
// brackets and any case. ok is false for addresses without a token, with a
// malformed one, or with a signature that does not verify (compared in
// constant time); always false without a secret.
func ParseReplyToken(secret []byte, tenant, addr string) (number int64, ok bool) {
	if len(secret) == 0 {
		return 0, false
	}
	if tenant == "" {
		tenant = DefaultTenant
	}
	addr = NormEmail(strings.Trim(strings.TrimSpace(addr), "<>"))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		at = len(addr)
	}
	local := addr[:at]
	plus := strings.LastIndexByte(local, '+')
	if plus < 0 {
		return 0, false
	}
	digits, sig, found := strings.Cut(local[plus+1:], ".")
	if !found || len(sig) != replySigLen || !strings.HasPrefix(digits, "t") {
		return 0, false
	}
	digits = digits[1:]
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != digits {
		return 0, false
	}
	if !hmac.Equal([]byte(sig), []byte(replySig(secret, tenant, n))) {
		return 0, false
	}
	return n, true
}
