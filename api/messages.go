package api

import (
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sidedesk/sidedesk/ticket"
)

// messageOf loads the message of the {id} path value for the caller's
// tenant; on failure it has answered.
func (s *Server) messageOf(w http.ResponseWriter, r *http.Request) (ticket.Message, bool) {
	id, ok := s.pathID(w, r)
	if !ok {
		return ticket.Message{}, false
	}
	m, err := s.opts.Store.Message(r.Context(), tenantOf(r), id)
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("message %d", id), err)
		return ticket.Message{}, false
	}
	return m, true
}

// getMessage serves GET /api/v1/messages/{id}: one message (held ones too).
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	if m, ok := s.messageOf(w, r); ok {
		s.writeJSON(w, r, http.StatusOK, s.messageJSON(m))
	}
}

// getRawMessage serves GET /api/v1/messages/{id}/raw: the captured RFC 5322
// bytes exactly as received, as message/rfc822, streamed from the blob.
func (s *Server) getRawMessage(w http.ResponseWriter, r *http.Request) {
	if m, ok := s.messageOf(w, r); ok {
		s.serveBlob(w, r, m.Raw.SHA256, m.Raw.Size, "message/rfc822",
			contentDisposition("attachment", fmt.Sprintf("message-%d.eml", m.ID)))
	}
}

// getAttachment serves GET /api/v1/attachments/{id}: the decoded bytes with
// their content type, always as a download and sandboxed, so an uploaded
// text/html or SVG can never run in our origin.
func (s *Server) getAttachment(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	a, err := s.opts.Store.Attachment(r.Context(), tenantOf(r), id)
	if err != nil {
		s.writeStoreError(w, r, fmt.Sprintf("attachment %d", id), err)
		return
	}
	name := a.Filename
	if strings.TrimSpace(name) == "" {
		name = "attachment-" + strconv.FormatInt(id, 10)
	}
	s.serveBlob(w, r, a.SHA256, a.Size, safeContentType(a.ContentType), contentDisposition("attachment", name))
}

// serveBlob streams a stored blob (never reading it whole): with Range and
// If-None-Match support when the blob is seekable (a file), else by plain
// copy with Content-Length.
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, sha string, size int64, ctype, disposition string) {
	rc, err := s.opts.Blobs.Open(r.Context(), sha)
	if err != nil {
		// The row exists but its bytes do not: a server-side fault, not a 404.
		s.writeError(w, r, http.StatusInternalServerError, "internal", "stored content is unavailable",
			fmt.Errorf("open blob %s: %w", sha, err))
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", disposition)
	// Never let stored content act in our origin: a sandboxed document has
	// an opaque origin and runs no script, even when opened directly.
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("ETag", `"`+sha+`"`) // content-addressed: the hash is the version
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", time.Time{}, rs)
		return
	}
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	if r.Method == http.MethodHead {
		return
	}
	n, err := io.Copy(w, rc)
	if err != nil || n != size {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "api: blob copy incomplete",
			slog.String("sha256", sha), slog.Int64("written", n), slog.Int64("size", size),
			slog.String("request_id", RequestID(r.Context())), slog.Any("error", err))
	}
}

// safeContentType returns ct normalised, or application/octet-stream when
// it does not parse (a mail may say anything).
func safeContentType(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.Contains(mt, "/") {
		return "application/octet-stream"
	}
	if cs, ok := params["charset"]; ok {
		return mime.FormatMediaType(mt, map[string]string{"charset": cs})
	}
	return mt
}

// contentDisposition builds e.g. `attachment; filename="a.pdf";
// filename*=UTF-8”a.pdf` (RFC 6266 section 4.3 with the RFC 5987
// ext-value; the plain filename is an ASCII fallback for old clients).
func contentDisposition(disposition, name string) string {
	var fallback, ext strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r == '/' || r > 0x7e:
			fallback.WriteByte('_')
		default:
			fallback.WriteRune(r)
		}
	}
	for _, b := range []byte(name) {
		// RFC 5987 section 3.2.1 attr-char; everything else percent-encoded.
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$&+-.^_`|~", b) >= 0 {
			ext.WriteByte(b)
		} else {
			fmt.Fprintf(&ext, "%%%02X", b)
		}
	}
	return fmt.Sprintf(`%s; filename="%s"; filename*=UTF-8''%s`, disposition, fallback.String(), ext.String())
}
