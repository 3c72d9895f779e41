package decoy

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// Static serves the files of fsys as a plain static web server would (see
// the package doc), looking like p. Names with a part that begins with a
// dot (.git, .env) are not served. A file named CODE.html at the top
// (404.html, 403.html, ...) is the page for that error.
func Static(fsys fs.FS, p Profile) http.Handler {
	return &static{fsys: fsys, p: p}
}

type static struct {
	fsys fs.FS
	p    Profile
}

func (s *static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		s.fail(w, r, http.StatusMethodNotAllowed)
		return
	}
	upath := r.URL.Path
	if !strings.HasPrefix(upath, "/") || strings.ContainsRune(upath, 0) {
		s.fail(w, r, http.StatusBadRequest)
		return
	}
	name := strings.TrimPrefix(path.Clean(upath), "/")
	if name == "" {
		name = "."
	}
	if hidden(name) {
		s.fail(w, r, http.StatusNotFound)
		return
	}
	f, st, err := s.open(name)
	if err != nil {
		s.fail(w, r, statusOf(err))
		return
	}
	if st.IsDir() {
		f.Close()
		if !strings.HasSuffix(upath, "/") {
			s.redirect(w, r, upath+"/")
			return
		}
		f, st, err = s.open(path.Join(name, "index.html"))
		if err == nil && st.IsDir() {
			f.Close()
			err = fs.ErrNotExist
		}
		if err != nil {
			s.fail(w, r, http.StatusForbidden) // a directory without an index is not listed
			return
		}
	} else if strings.HasSuffix(upath, "/") {
		f.Close()
		s.fail(w, r, http.StatusNotFound)
		return
	}
	defer f.Close()
	if r.Method == http.MethodPost {
		s.fail(w, r, http.StatusMethodNotAllowed)
		return
	}
	s.serveFile(w, r, f, st)
}

// hidden reports whether a part of name begins with a dot.
func hidden(name string) bool {
	for part := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(part, ".") && part != "." {
			return true
		}
	}
	return false
}

// open opens name and reads its metadata.
func (s *static) open(name string) (fs.File, fs.FileInfo, error) {
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.IsDir() && !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, st, nil
}

// statusOf is the answer to a file that could not be opened.
func statusOf(err error) int {
	if errors.Is(err, fs.ErrPermission) {
		return http.StatusForbidden
	}
	return http.StatusNotFound
}

// serveFile answers with f: its metadata, a 304 to a matching
// conditional request, a part of it to a range request.
func (s *static) serveFile(w http.ResponseWriter, r *http.Request, f fs.File, st fs.FileInfo) {
	h := w.Header()
	mod := st.ModTime().UTC()
	size := st.Size()
	etag := s.p.etag(size, mod)
	s.p.setServer(h)
	lastMod := mod.Format(http.TimeFormat)
	if s.notModified(r, etag, mod) {
		h.Set("Last-Modified", lastMod)
		h.Set("ETag", etag)
		s.p.setExtra(h)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	start, length, status := int64(0), size, http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && ifRange(r, etag, lastMod) {
		a, b, ok, satisfiable := parseRange(rg, size)
		switch {
		case ok && !satisfiable:
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			s.fail(w, r, http.StatusRequestedRangeNotSatisfiable)
			return
		case ok:
			start, length, status = a, b-a+1, http.StatusPartialContent
			h.Set("Content-Range", "bytes "+strconv.FormatInt(a, 10)+"-"+strconv.FormatInt(b, 10)+"/"+strconv.FormatInt(size, 10))
		}
	}
	h.Set("Content-Type", s.p.contentType(st.Name()))
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	h.Set("Last-Modified", lastMod)
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	s.p.setExtra(h)
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if ra, ok := f.(io.ReaderAt); ok {
		io.Copy(w, io.NewSectionReader(ra, start, length))
		return
	}
	if _, err := io.CopyN(io.Discard, f, start); err == nil {
		io.CopyN(w, f, length)
	}
}

// notModified reports whether r's conditions say the client's copy is
// current: If-None-Match if present, else If-Modified-Since.
func (s *static) notModified(r *http.Request, etag string, mod time.Time) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for t := range strings.SplitSeq(inm, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == etag {
				return true
			}
		}
		return false
	}
	ims, err := http.ParseTime(r.Header.Get("If-Modified-Since"))
	if err != nil {
		return false
	}
	mod = mod.Truncate(time.Second)
	if s.p.exactIMS() {
		return ims.Equal(mod)
	}
	return !mod.After(ims)
}

// ifRange reports whether r's If-Range, if any, names the current file.
func ifRange(r *http.Request, etag, lastMod string) bool {
	ir := r.Header.Get("If-Range")
	return ir == "" || ir == etag || ir == lastMod
}

// parseRange parses a single "bytes=A-B", "bytes=A-" or "bytes=-N" range
// of a file of size bytes. ok is false for anything else (the whole file
// is then sent); satisfiable is false when the range lies past the end.
func parseRange(s string, size int64) (a, b int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(s, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if first == "" { // the last N bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		return max(size-n, 0), size - 1, true, true
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, 0, false, false
	}
	b = size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return 0, 0, false, false
		}
		b = min(b, size-1)
	}
	if a >= size {
		return 0, 0, true, false
	}
	return a, b, true, true
}

// redirect sends the browser to the directory's own URL.
func (s *static) redirect(w http.ResponseWriter, r *http.Request, to string) {
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	if s.p.Style != Caddy && r.Host != "" { // the others send an absolute URL
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		to = scheme + "://" + r.Host + to
	}
	w.Header().Set("Location", to)
	s.fail(w, r, s.p.redirectStatus())
}

// fail answers with the site's own page for code (CODE.html at the top)
// if it has one, else the style's.
func (s *static) fail(w http.ResponseWriter, r *http.Request, code int) {
	if code >= 400 {
		if f, st, err := s.open(strconv.Itoa(code) + ".html"); err == nil {
			defer f.Close()
			if !st.IsDir() && st.Size() < 1<<20 {
				h := w.Header()
				s.p.setServer(h)
				h.Set("Content-Type", s.p.contentType(st.Name()))
				h.Set("Content-Length", strconv.FormatInt(st.Size(), 10))
				w.WriteHeader(code)
				if r.Method != http.MethodHead {
					io.CopyN(w, f, st.Size())
				}
				return
			}
		}
	}
	s.p.fail(w, r, code)
}
