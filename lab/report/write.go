package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// JSON returns the report as indented JSON with a trailing newline. Keys
// come in a fixed order (struct fields in order, map keys sorted); empty
// lists and maps are written as [] and {}, never null. A
// figure that is NaN or infinite is written as 0 and the report gains a
// failed "figures are finite" invariant saying which.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(finite(filled(r)), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: encoding json: %w", err)
	}
	return append(b, '\n'), nil
}

// Write writes dir/report.json and dir/index.html, creating dir.
func (r *Report) Write(dir string) error {
	js, err := r.JSON()
	if err != nil {
		return err
	}
	page, err := HTML(finite(r))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), js, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), page, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// filled returns a shallow copy of r whose nil lists and maps are empty,
// so readers of report.json see [] and {} rather than null.
func filled(r *Report) *Report {
	c := *r
	if c.Strategies == nil {
		c.Strategies = map[string]Strategy{}
	}
	if c.Censor.ByISP == nil {
		c.Censor.ByISP = map[string]int{}
	}
	if c.Timeline == nil {
		c.Timeline = []Sample{}
	}
	if c.Events == nil {
		c.Events = []Event{}
	}
	if c.Targets == nil {
		c.Targets = []Target{}
	}
	if c.Invariants == nil {
		c.Invariants = []Check{}
	}
	if c.Notes == nil {
		c.Notes = []string{}
	}
	return &c
}
