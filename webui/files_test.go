package webui

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"samizdat/client"
	"samizdat/client/clientdb"
)

// TestSavedFile checks that a download is served only for a received
// message naming a regular file the client saved, with its size: never a
// path a sender wrote into a message.
func TestSavedFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(dir), "secret")
	if err := os.WriteFile(outside, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	in := func(body string) clientdb.Message {
		return clientdb.Message{ID: 7, Body: body, Status: clientdb.StatusReceived}
	}
	// The client recorded message 7's file as dir/a.txt.
	rec := func(id int64) (string, error) {
		if id == 7 {
			return filepath.Join(dir, "a.txt"), nil
		}
		return "", client.ErrNoSavedFile
	}
	if p, size := savedFile(dir, in(client.FileLabel("a.txt", 5, "hi")), rec); p != filepath.Join(dir, "a.txt") || size != 5 {
		t.Fatalf("saved file: %q %d", p, size)
	}
	for what, m := range map[string]clientdb.Message{
		"wrong size":   in(client.FileLabel("a.txt", 4, "")),
		"a path":       in("[file ../secret, 5 bytes]"),
		"a directory":  in(client.FileLabel("sub", 5, "")),
		"a symlink":    in(client.FileLabel("link", 5, "")),
		"missing":      in(client.FileLabel("b.txt", 5, "")),
		"plain text":   in("a.txt"),
		"outgoing":     {Body: client.FileLabel("a.txt", 5, ""), Outgoing: true, Status: clientdb.StatusSent},
		"hidden name":  in("[file .a.txt, 5 bytes]"),
		"label inside": in("look: " + client.FileLabel("a.txt", 5, "")),
		// A plain text whose body is a label naming a file saved for
		// another message: it brought no file of its own.
		"typed label": {ID: 8, Body: client.FileLabel("a.txt", 5, ""), Status: clientdb.StatusReceived},
	} {
		if p, _ := savedFile(dir, m, rec); p != "" {
			t.Errorf("%s: served %q", what, p)
		}
	}
	if p, _ := savedFile("", in(client.FileLabel("a.txt", 5, "")), rec); p != "" {
		t.Errorf("no files directory: served %q", p)
	}
}

// TestFileUploadChecks checks that an upload needs the CSRF token and that
// a raw body is accepted on the upload path only.
func TestFileUploadChecks(t *testing.T) {
	s, err := New(Config{Addr: testAddr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ck := signIn(t, s)
	raw := map[string]string{"Content-Type": "application/octet-stream"}
	if w := request(t, s, "POST", "/api/file?to=bob", testAddr, ck, raw, "data"); w.Code != http.StatusForbidden {
		t.Fatalf("upload without CSRF token: %d", w.Code)
	}
	raw["X-CSRF-Token"] = s.csrf
	if w := request(t, s, "POST", "/api/send", testAddr, ck, raw, "data"); w.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("raw body to /api/send: %d", w.Code)
	}
	// Past the checks (no client yet: the first run is not done).
	if w := request(t, s, "POST", "/api/file?to=bob", testAddr, ck, raw, "data"); w.Code != http.StatusConflict {
		t.Fatalf("upload with the CSRF token: %d", w.Code)
	}
}
