package codecheck

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// pkg is one directory of Go source, tests excluded.
type pkg struct {
	dir     string // relative to the repository root, slash-separated
	name    string
	hasDoc  bool
	imports map[string][]string // import path -> files importing it
}

// repoRoot is two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

// loadPackages parses the non-test Go files of every package in the tree,
// skipping node_modules, testdata and hidden directories.
func loadPackages(t *testing.T) []*pkg {
	t.Helper()
	root := repoRoot(t)
	byDir := map[string]*pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		p := byDir[rel]
		if p == nil {
			p = &pkg{dir: rel, name: f.Name.Name, imports: map[string][]string{}}
			byDir[rel] = p
		}
		if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
			p.hasDoc = true
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			p.imports[ip] = append(p.imports[ip], name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []*pkg
	for _, p := range byDir {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dir < out[j].dir })
	if len(out) < 3 {
		t.Fatalf("found only %d packages; is the walk broken?", len(out))
	}
	return out
}

func TestEveryPackageHasDocComment(t *testing.T) {
	for _, p := range loadPackages(t) {
		if !p.hasDoc {
			t.Errorf("package %s (%s) has no doc comment", p.name, p.dir)
		}
	}
}

// TestSessionDoesNoIO keeps the Signal-protocol library pure: no network,
// files, processes or global logging. Callers bring storage through the
// store interfaces.
func TestSessionDoesNoIO(t *testing.T) {
	forbidden := []string{"net", "net/http", "os", "os/exec", "log", "log/slog", "database/sql", "syscall"}
	for _, p := range loadPackages(t) {
		if p.dir != "session" && !strings.HasPrefix(p.dir, "session/") {
			continue
		}
		for _, f := range forbidden {
			if files, ok := p.imports[f]; ok {
				t.Errorf("%s imports %q (in %v); the session library must do no I/O", p.dir, f, files)
			}
		}
	}
}

// TestNoTestingOutsideTests keeps test helpers out of shipped code, except
// in packages that exist to be test doubles (their names end in "test").
func TestNoTestingOutsideTests(t *testing.T) {
	for _, p := range loadPackages(t) {
		if strings.HasSuffix(p.name, "test") {
			continue
		}
		if files, ok := p.imports["testing"]; ok {
			t.Errorf("%s imports testing in non-test files %v", p.dir, files)
		}
	}
}
