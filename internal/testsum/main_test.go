package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// testdata/mixed.jsonl is what `go test -json -timeout 2s ./...` printed
// for a module with passing, skipped and failing tests and subtests, a
// TestMain that panics after its tests, a package that does not build, one
// without tests and one whose test hangs until the timeout.
func TestFilterMixed(t *testing.T) {
	in, err := os.Open("testdata/mixed.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	saved := filepath.Join(t.TempDir(), "saved.json")
	ok, err := filter(in, &out, "unit", saved, `^a: \d+ passed`)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("a stream with failures reported success")
	}
	golden(t, "testdata/mixed.golden", out.Bytes())

	orig, _ := os.ReadFile("testdata/mixed.jsonl")
	if got, _ := os.ReadFile(saved); !bytes.Equal(got, orig) {
		t.Errorf("-save wrote %d bytes, want the %d of the input", len(got), len(orig))
	}
}

func TestTally(t *testing.T) {
	s := newSummary(&bytes.Buffer{})
	f, err := os.Open("testdata/mixed.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.read(f); err != nil {
		t.Fatal(err)
	}
	// TestPass, TestSub/ok, tsx/c.TestOK, tsx/e.TestE and TestF passed.
	if s.tally.passed != 5 || s.tally.skipped != 1 {
		t.Errorf("%d passed, %d skipped; want 5 and 1", s.tally.passed, s.tally.skipped)
	}
	want := []string{"tsx/a.TestFail", "tsx/a.TestSub/bad", "tsx/a.TestSub", "tsx/b", "tsx/c.TestHang"}
	if !slices.Equal(s.tally.failed, want) {
		t.Errorf("failed %q, want %q", s.tally.failed, want)
	}
}

func TestFilterPassing(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"p"}`,
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0}`,
		`{"Action":"output","Package":"p","Output":"suite: 1 passed, 0 failed\n"}`,
		`{"Action":"output","Package":"p","Output":"ok  \tp\t1.5s\n"}`,
		`{"Action":"pass","Package":"p","Elapsed":1.5}`,
		`not json: a script's own line`,
		``,
	}, "\n")
	var out bytes.Buffer
	ok, err := filter(strings.NewReader(in), &out, "", "", "^suite: ")
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	want := "suite: 1 passed, 0 failed\nok    p                                               1.5s\nnot json: a script's own line\n1 test\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// A stream cut off mid-package (go test killed) fails what was running.
func TestFilterCutOff(t *testing.T) {
	in := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
`
	var out bytes.Buffer
	ok, err := filter(strings.NewReader(in), &out, "unit", "", "")
	if err != nil || ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	want := "--- p TestA failed:\n=== RUN   TestA\nFAIL  p                                               0.0s\nunit: 1 test, 1 failed\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestAddUp(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mixed, err := os.ReadFile("testdata/mixed.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	passing := `{"Action":"start","Package":"q"}
{"Action":"run","Package":"q","Test":"TestQ"}
{"Action":"pass","Package":"q","Test":"TestQ"}
{"Action":"run","Package":"q","Test":"TestR"}
{"Action":"skip","Package":"q","Test":"TestR"}
{"Action":"pass","Package":"q"}
`
	for _, tc := range []struct {
		name  string
		files map[string]string
		ok    bool
		want  string
	}{
		{"all pass", map[string]string{"vet.exit": "0\n", "unit.exit": "0\n", "unit.json": passing, "interop.exit": "0\n", "interop.json": passing},
			true, `vet: ok
unit: ok (2 tests, 1 skipped)
interop: ok (2 tests, 1 skipped)
test: 2 passed, 0 failed, 2 skipped
`},
		{"failures everywhere", map[string]string{"vet.exit": "1\n", "unit.exit": "1\n", "unit.json": string(mixed)},
			false, `vet: FAILED (exit status 1; counted as one failure)
unit: FAILED (11 tests, 5 failed, 1 skipped: tsx/a.TestFail, tsx/a.TestSub/bad, tsx/a.TestSub, tsx/b, tsx/c.TestHang)
interop: FAILED (did not run; counted as one failure)
test: 5 passed, 7 failed, 1 skipped
`},
		// go test failed though no test did (say, a package pattern
		// matched nothing): the exit status decides.
		{"exit status only", map[string]string{"vet.exit": "0\n", "unit.exit": "2\n", "unit.json": passing, "interop.exit": "0\n"},
			false, `vet: ok
unit: FAILED (exit status 2; counted as one failure)
interop: ok
test: 1 passed, 1 failed, 1 skipped
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir = t.TempDir()
			for name, data := range tc.files {
				write(name, data)
			}
			var out bytes.Buffer
			ok, err := addUp(&out, dir, []string{"vet", "unit", "interop"})
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok || out.String() != tc.want {
				t.Errorf("ok=%v, printed\n%s\nwant ok=%v and\n%s", ok, out.String(), tc.ok, tc.want)
			}
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update to rewrite it); got\n%s", path, got)
	}
}
