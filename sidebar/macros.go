package sidebar

import (
	"bytes"
	"fmt"
	"text/template"

	"github.com/sidedesk/sidedesk/sidebar/views"
	"github.com/sidedesk/sidedesk/ticket"
)

// Macro is a canned reply ([[ticket.macro]]): Body is a text/template
// over MacroData.
type Macro struct {
	Name string
	Body string
}

// MacroData is what a macro's template sees.
type MacroData struct {
	RequesterName, RequesterEmail string
	Number                        int64
	Tag                           string // "[#123]"
	Subject                       string
	AgentName, AgentEmail         string
}

type macro struct {
	name string
	tmpl *template.Template
}

func parseMacros(ms []Macro) ([]macro, error) {
	out := make([]macro, 0, len(ms))
	for i, m := range ms {
		t, err := template.New(m.Name).Option("missingkey=error").Parse(m.Body)
		if err != nil {
			return nil, fmt.Errorf("sidebar: macro %d (%q): %w", i, m.Name, err)
		}
		out = append(out, macro{name: m.Name, tmpl: t})
	}
	return out, nil
}

// renderMacros fills the macros for ticket t and agent a; one that fails
// to render is left out (and logged) rather than failing the panel.
func (s *Server) renderMacros(t ticket.Ticket, a Agent) []views.Macro {
	d := MacroData{RequesterName: t.Requester.Name, RequesterEmail: t.Requester.Email, Number: t.Number,
		Tag: "[#" + fmt.Sprint(t.Number) + "]", Subject: t.Subject, AgentName: a.Name, AgentEmail: a.Email}
	if d.AgentName == "" {
		d.AgentName = a.Email
	}
	var out []views.Macro
	for i, m := range s.macros {
		var b bytes.Buffer
		if err := m.tmpl.Execute(&b, d); err != nil {
			s.log.Warn("sidebar: macro does not render", "macro", m.name, "err", err)
			continue
		}
		out = append(out, views.Macro{ID: i, Name: m.name, Text: b.String()})
	}
	return out
}
