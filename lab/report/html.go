package report

import (
	"bytes"
	"fmt"
	"html/template"
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>samizdat lab: {{.Scenario}}</title></head>
<body><h1>samizdat lab: {{.Scenario}}</h1></body></html>
`))

// HTML renders the report as a self-contained page.
func HTML(r *Report) ([]byte, error) {
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("report: rendering html: %w", err)
	}
	return b.Bytes(), nil
}
