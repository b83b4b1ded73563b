package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"syscall"

	"github.com/sidedesk/sidedesk/ticket"
)

// errorBody is the JSON of every error answer:
// {"error":{"code":"not_found","message":"..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// apiHeaders are set on every JSON answer of the API: nothing in it is
// active content, and it is never framed.
func apiHeaders(h http.Header) {
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
}

// writeJSON answers status with v as JSON.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, http.StatusInternalServerError, "internal", "internal server error", err)
		return
	}
	apiHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError is the one place error answers are made. err (the cause, for
// the log; never sent to the client for 5xx) is logged with the request's
// context: at error level for 5xx, debug otherwise.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string, err error) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("code", code),
		slog.String("request_id", RequestID(r.Context())),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "api: "+msg, attrs...)
	b, _ := json.Marshal(errorBody{errorDetail{Code: code, Message: msg, RequestID: RequestID(r.Context())}})
	apiHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteError answers an error of a route another package serves under
// /api/v1 (Mount) in the API's one error shape, with the request id, and
// logs it as every API error is.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, status int, code, msg string, err error) {
	s.writeError(w, r, status, code, msg, err)
}

// writeStoreError answers the error of a look-up of what (e.g. "ticket
// 12"): 404 for ticket.ErrNotFound (also another tenant's rows: they do
// not exist for this caller), 400 for invalid input, 499-ish silence for a
// gone client, 500 otherwise.
func (s *Server) writeStoreError(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case diskFull(err):
		s.writeError(w, r, http.StatusInsufficientStorage, "insufficient_storage",
			"the server's disk is full: nothing was saved; an operator must free space, then send it again", err)
	case errors.Is(err, ticket.ErrNotFound):
		s.writeError(w, r, http.StatusNotFound, "not_found", what+" not found", err)
	case errors.Is(err, ticket.ErrInvalid), errors.Is(err, ticket.ErrInvalidFilter):
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "ticket: "), "store: ")
		s.writeError(w, r, http.StatusBadRequest, "invalid_request", msg, err)
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "api: client gone", slog.String("path", r.URL.Path))
	default:
		s.writeError(w, r, http.StatusInternalServerError, "internal", "internal server error", err)
	}
}

// diskFull reports a write refused for want of space: ENOSPC from a file
// write (blobs), or SQLite's SQLITE_FULL ("database or disk is full").
func diskFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	return strings.Contains(err.Error(), "database or disk is full")
}
