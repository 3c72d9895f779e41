package attachment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes bounds a saved file's name.
const MaxNameBytes = 200

// SafeName reduces a name a sender chose to one safe to create in a
// directory: its base name (after the last / or \), without control
// characters, without leading dots, at most MaxNameBytes bytes; "file"
// when nothing is left.
func SafeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError || r == '/' || r == '\\' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(name, ".")
	for len(name) > MaxNameBytes {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	if strings.TrimSpace(name) == "" {
		return "file"
	}
	return name
}

// CreateUnique creates a new file in dir named name (a SafeName), or, when
// that is taken, "base (1).ext", "base (2).ext" and so on. It returns the
// open file and the name it got.
func CreateUnique(dir, name string) (*os.File, string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	if base == "" { // ".ext" cannot happen after SafeName, but be sure
		base, ext = name, ""
	}
	for i := 0; i < 10000; i++ {
		try := name
		if i > 0 {
			try = fmt.Sprintf("%s (%d)%s", base, i, ext)
		}
		f, err := os.OpenFile(filepath.Join(dir, try), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, try, nil
	}
	return nil, "", fmt.Errorf("attachment: no free name for %q in %s", name, dir)
}
