package views

import "encoding/json"

// htmxConfig keeps htmx within the CSP: no injected indicator <style>, no
// eval (hx-on, trigger filters), no <script> execution in swapped content,
// requests only to our own origin, and no page snapshots in localStorage
// (they would keep customer data in the browser).
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"historyCacheSize":0,"refreshOnHistoryMiss":true}`

// csrfHeader is the hx-headers value carrying the CSRF token.
func csrfHeader(token string) string {
	if token == "" {
		return ""
	}
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}
