package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the sample report")

// TestGolden keeps the sample report's report.json and index.html in
// testdata/golden; regenerate with go test ./lab/report -run Golden -update
// and open testdata/golden/index.html to look at the page.
func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := sampleReport().Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	got := t.TempDir()
	if err := sampleReport().Write(got); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.json", "index.html"} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		b, err := os.ReadFile(filepath.Join(got, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want) {
			t.Errorf("%s differs from testdata/golden/%s; if the change is intended, rerun with -update", f, f)
		}
	}
}
