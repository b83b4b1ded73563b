package gmailsource

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
)

// pushEnvelope is a Pub/Sub push request body.
type pushEnvelope struct {
	Message struct {
		Data        string `json:"data"`
		MessageID   string `json:"messageId"`
		PublishTime string `json:"publishTime"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

// gmailNotification is the JSON Gmail publishes (base64 in message.data).
type gmailNotification struct {
	EmailAddress string          `json:"emailAddress"`
	HistoryID    json.RawMessage `json:"historyId"` // a number; some publishers quote it
}

// PushHandler is the Pub/Sub push endpoint for Gmail watch notifications
// (users.watch). It checks ?token= against token in constant time (401
// otherwise; an empty token refuses everything), decodes the notification,
// wakes the Source of that Gmail address (sources is keyed by address, any
// case) and answers 204, which acknowledges the message. A notification for
// an unknown address is acknowledged and logged (redelivering would not help);
// an undecodable body gets 400.
func PushHandler(token string, sources map[string]*Source, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	want := sha256.Sum256([]byte(token))
	byAddr := make(map[string]*Source, len(sources))
	for addr, s := range sources {
		byAddr[strings.ToLower(addr)] = s
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Hash both sides so the comparison time depends on neither
		// the token's content nor its length.
		got := sha256.Sum256([]byte(r.URL.Query().Get("token")))
		if token == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var env pushEnvelope
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&env); err != nil {
			http.Error(w, "bad push body", http.StatusBadRequest)
			return
		}
		data, err := decodeBase64(env.Message.Data)
		var n gmailNotification
		if err == nil {
			err = json.Unmarshal(data, &n)
		}
		if err != nil || n.EmailAddress == "" {
			logger.Warn("gmail push: undecodable notification", "subscription", env.Subscription, "pubsub_id", env.Message.MessageID)
			http.Error(w, "bad notification data", http.StatusBadRequest)
			return
		}
		src := byAddr[strings.ToLower(n.EmailAddress)]
		if src == nil {
			logger.Warn("gmail push for an address no mailbox captures", "address", n.EmailAddress, "subscription", env.Subscription)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		logger.Debug("gmail push", "mailbox", src.Name(), "history_id", strings.Trim(string(n.HistoryID), `"`))
		src.Notify()
		w.WriteHeader(http.StatusNoContent)
	})
}

// decodeBase64 accepts the standard alphabet (what Pub/Sub sends) and
// base64url, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}
