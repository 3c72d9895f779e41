package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// JSON returns the report as indented JSON with a trailing newline. Keys
// come in a fixed order (struct fields in order, map keys sorted). A
// figure that is NaN or infinite is written as 0 and the report gains a
// failed "figures are finite" invariant saying which.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(finite(r), "", "  ")
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
