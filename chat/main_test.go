package chat

import (
	"log/slog"
	"os"
)

// testLogger logs to stderr when CHAT_DEBUG is set, and nowhere otherwise.
func testLogger() *slog.Logger {
	if os.Getenv("CHAT_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}
