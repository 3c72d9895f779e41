// Command testsum turns the event stream of `go test -json` into what a
// person and CI read: a line per package as it ends (ok or FAIL, and its
// time), the whole output of every test that failed, and counts. `make test`
// runs it on each stage that runs Go tests, saving the stream, and then once
// more with -total to add the stages up: a line per stage, then the one
// closing line CI reads,
//
//	test: 812 passed, 2 failed, 14 skipped
//
// Every test and subtest counts once. A package that fails without a failing
// test (it did not build, TestMain failed) counts as one failure, a test that
// never ended (the binary timed out or crashed) as a failed test, and a stage
// that failed without failing a Go test (vet, an install) as one failure: the
// closing line never says 0 failed when something did.
//
// Usage:
//
//	go test -json PKGS | testsum [-stage NAME] [-save FILE] [-echo REGEXP]
//	testsum -total DIR STAGE...
//
// The first form prints as the tests end and exits 1 if anything failed.
// -save keeps the stream in FILE; -echo prints output lines matching REGEXP
// even from tests that passed (a suite's own summary line, say). The second
// form reads DIR/STAGE.exit (the stage's exit status, written by the
// Makefile) and DIR/STAGE.json (the saved stream, if the stage ran Go tests)
// for each STAGE, and exits 1 if any stage failed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	stage := flag.String("stage", "", "name of the stage, for the closing line")
	save := flag.String("save", "", "also write the input stream to this `file`")
	echo := flag.String("echo", "", "print output lines matching this `regexp` even from passing tests")
	total := flag.String("total", "", "add up the stages saved in this `dir` (the stage names are the arguments)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go test -json PKGS | testsum [-stage NAME] [-save FILE] [-echo REGEXP]\n       testsum -total DIR STAGE...")
		flag.PrintDefaults()
	}
	flag.Parse()
	var (
		ok  bool
		err error
	)
	if *total != "" {
		ok, err = addUp(os.Stdout, *total, flag.Args())
	} else {
		if flag.NArg() != 0 {
			flag.Usage()
			os.Exit(2)
		}
		ok, err = filter(os.Stdin, os.Stdout, *stage, *save, *echo)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// filter summarises the stream in as it comes and reports whether
// everything passed.
func filter(in io.Reader, out io.Writer, stage, save, echo string) (bool, error) {
	s := newSummary(out)
	if echo != "" {
		re, err := regexp.Compile(echo)
		if err != nil {
			return false, fmt.Errorf("-echo: %w", err)
		}
		s.echo = re
	}
	if save != "" {
		f, err := os.Create(save)
		if err != nil {
			return false, err
		}
		defer f.Close()
		in = io.TeeReader(in, f)
	}
	if err := s.read(in); err != nil {
		return false, err
	}
	prefix := ""
	if stage != "" {
		prefix = stage + ": "
	}
	fmt.Fprintln(out, prefix+s.tally.String())
	return len(s.tally.failed) == 0, nil
}

// addUp prints a line per stage and the closing line, and reports whether
// every stage passed.
func addUp(out io.Writer, dir string, stages []string) (bool, error) {
	if len(stages) == 0 {
		return false, fmt.Errorf("-total: name the stages")
	}
	var sum tally
	allOK := true
	for _, stage := range stages {
		var t tally
		f, err := os.Open(filepath.Join(dir, stage+".json"))
		switch {
		case err == nil:
			s := newSummary(io.Discard)
			err = s.read(f)
			f.Close()
			if err != nil {
				return false, err
			}
			t = s.tally
		case !os.IsNotExist(err):
			return false, err
		}
		exit, err := os.ReadFile(filepath.Join(dir, stage+".exit"))
		ran := err == nil
		if err != nil && !os.IsNotExist(err) {
			return false, err
		}
		stageOK := ran && strings.TrimSpace(string(exit)) == "0" && len(t.failed) == 0
		var line string
		switch {
		case stageOK && t.tests() == 0:
			line = "ok"
		case stageOK:
			line = "ok (" + t.String() + ")"
		case len(t.failed) > 0:
			line = "FAILED (" + t.String() + ": " + names(t.failed, 10) + ")"
		case !ran:
			line = "FAILED (did not run; counted as one failure)"
			t.failed = append(t.failed, stage)
		default:
			line = "FAILED (exit status " + strings.TrimSpace(string(exit)) + "; counted as one failure)"
			t.failed = append(t.failed, stage)
		}
		allOK = allOK && stageOK
		fmt.Fprintf(out, "%s: %s\n", stage, line)
		sum.add(t)
	}
	fmt.Fprintf(out, "test: %d passed, %d failed, %d skipped\n", sum.passed, len(sum.failed), sum.skipped)
	return allOK, nil
}

// names lists up to max of names, saying how many more there are.
func names(all []string, max int) string {
	if len(all) <= max {
		return strings.Join(all, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(all[:max], ", "), len(all)-max)
}

// tally counts tests by outcome.
type tally struct {
	passed, skipped int
	failed          []string // "package.Test" (or the package, or the stage) per failure
}

func (t *tally) tests() int { return t.passed + t.skipped + len(t.failed) }

func (t *tally) add(u tally) {
	t.passed += u.passed
	t.skipped += u.skipped
	t.failed = append(t.failed, u.failed...)
}

// String reads "812 tests, 2 failed, 14 skipped", leaving out zero counts.
func (t *tally) String() string {
	s := fmt.Sprintf("%d tests", t.tests())
	if t.tests() == 1 {
		s = "1 test"
	}
	if len(t.failed) > 0 {
		s += fmt.Sprintf(", %d failed", len(t.failed))
	}
	if t.skipped > 0 {
		s += fmt.Sprintf(", %d skipped", t.skipped)
	}
	return s
}

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	Elapsed     float64
	ImportPath  string // build-output and build-fail events
	FailedBuild string // on a package's fail event: the build that failed
}

// summary follows the packages and tests of one stream.
type summary struct {
	out    io.Writer
	echo   *regexp.Regexp
	tally  tally
	pkgs   map[string]*pkgRun
	order  []string            // packages in the order they started
	builds map[string][]string // build output by ImportPath
}

// pkgRun is a package whose tests are running.
type pkgRun struct {
	output  []string            // lines printed outside any test
	tests   map[string][]string // output of each test that has not ended
	running []string            // tests in the order they started
	failed  int                 // tests that failed
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, pkgs: map[string]*pkgRun{}, builds: map[string][]string{}}
}

// read handles every line of in, then ends what the stream left running.
func (s *summary) read(in io.Reader) error {
	r := bufio.NewReader(in)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			s.line(line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	for len(s.order) > 0 {
		s.endPackage(s.order[0], "FAIL", 0) // the stream stopped mid-package
	}
	return nil
}

// line handles one line of the stream; lines that are not events (a
// script's own output) are printed as they are.
func (s *summary) line(line string) {
	var e event
	if err := json.Unmarshal([]byte(line), &e); err != nil || e.Action == "" {
		io.WriteString(s.out, line)
		return
	}
	if e.Action == "build-output" {
		s.builds[e.ImportPath] = append(s.builds[e.ImportPath], e.Output)
		return
	}
	if e.Package == "" {
		return
	}
	p := s.pkg(e.Package)
	switch e.Action {
	case "output":
		if s.echo != nil && s.echo.MatchString(e.Output) {
			io.WriteString(s.out, e.Output)
		}
		if e.Test == "" {
			p.output = append(p.output, e.Output)
		} else {
			p.start(e.Test)
			p.tests[e.Test] = append(p.tests[e.Test], e.Output)
		}
	case "run":
		p.start(e.Test)
	case "pass", "skip", "fail":
		if e.Test != "" {
			s.endTest(e.Package, p, e.Test, e.Action)
			return
		}
		if e.FailedBuild != "" {
			p.output = append(p.output, s.builds[e.FailedBuild]...)
		}
		s.endPackage(e.Package, strings.ToUpper(e.Action), e.Elapsed)
	}
}

func (s *summary) pkg(name string) *pkgRun {
	p := s.pkgs[name]
	if p == nil {
		p = &pkgRun{tests: map[string][]string{}}
		s.pkgs[name] = p
		s.order = append(s.order, name)
	}
	return p
}

func (p *pkgRun) start(test string) {
	if _, ok := p.tests[test]; !ok {
		p.tests[test] = []string{}
		p.running = append(p.running, test)
	}
}

// endTest counts a test that ended and prints its output if it failed.
func (s *summary) endTest(pkg string, p *pkgRun, test, action string) {
	output := p.tests[test]
	delete(p.tests, test)
	switch action {
	case "pass":
		s.tally.passed++
	case "skip":
		s.tally.skipped++
	default:
		p.failed++
		s.tally.failed = append(s.tally.failed, pkg+"."+test)
		fmt.Fprintf(s.out, "--- %s %s failed:\n%s", pkg, test, strings.Join(output, ""))
	}
}

// endPackage ends a package: PASS, SKIP (no test files) or FAIL.
func (s *summary) endPackage(pkg, result string, elapsed float64) {
	p := s.pkgs[pkg]
	delete(s.pkgs, pkg)
	for i, name := range s.order {
		if name == pkg {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	// Tests still running when their package ended never finished: the
	// binary timed out or crashed in them.
	for _, test := range p.running {
		if _, ok := p.tests[test]; ok {
			result = "FAIL"
			s.endTest(pkg, p, test, "fail")
		}
	}
	switch result {
	case "SKIP":
		return
	case "PASS":
		fmt.Fprintf(s.out, "ok    %-44s %6.1fs\n", pkg, elapsed)
		return
	}
	if p.failed == 0 {
		s.tally.failed = append(s.tally.failed, pkg)
	}
	var extra []string
	for _, l := range p.output {
		if !goTestStatus.MatchString(l) {
			extra = append(extra, l)
		}
	}
	if len(extra) > 0 {
		fmt.Fprintf(s.out, "--- %s output outside tests:\n%s", pkg, strings.Join(extra, ""))
	}
	fmt.Fprintf(s.out, "FAIL  %-44s %6.1fs\n", pkg, elapsed)
}

// goTestStatus matches the lines go test prints about a whole package,
// which endPackage replaces with its own.
var goTestStatus = regexp.MustCompile(`^(PASS|FAIL|ok  \t.*|FAIL\t.*|\?   \t.*)\n?$`)
