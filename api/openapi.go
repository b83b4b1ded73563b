package api

import (
	_ "embed"
	"net/http"
)

// openapiDoc is the OpenAPI 3.1 document of the whole API, including the
// routes other packages mount (TestOpenAPI keeps it true).
//
//go:embed openapi/openapi.json
var openapiDoc []byte

// openapi serves GET /api/v1/openapi.json, without a token.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	apiHeaders(w.Header())
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openapiDoc)
}
