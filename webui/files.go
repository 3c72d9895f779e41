package webui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"samizdat/attachment"
	"samizdat/client"
	"samizdat/client/clientdb"
)

// Files: the page uploads a file as the raw body of POST /api/file (the
// name, recipient and conversation kind in the query); the server streams
// it to a temporary file in Config.TempDir, never holding it in memory,
// and hands that to client.SendFile, telling the pages its progress as
// "progress" updates. A received file is saved by the client into
// Config.FilesDir; GET /api/file serves it by its message's id only: the
// saved name comes from the message's label (client.FileLabel), never from
// the request.

// fileTimeout bounds one upload to the relay (a large file over a slow
// path takes minutes).
const fileTimeout = 30 * time.Minute

// fileLabel matches the start of a received file's message, as
// client.FileLabel writes it.
var fileLabel = regexp.MustCompile(`^\[file (.+), ([0-9]+) bytes\]`)

// savedFile returns the path in dir of the file a received message m
// names, and its size, or "" when m holds no file saved there. recorded
// says where the client saved m's own file (client.SavedFilePath): a
// label typed into a plain text, naming another file that happens to be
// there, serves nothing.
func savedFile(dir string, m clientdb.Message, recorded func(id int64) (string, error)) (string, int64) {
	if dir == "" || m.Outgoing || m.Status != clientdb.StatusReceived {
		return "", 0
	}
	sub := fileLabel.FindStringSubmatch(m.Body)
	if sub == nil || attachment.SafeName(sub[1]) != sub[1] {
		return "", 0
	}
	size, err := strconv.ParseInt(sub[2], 10, 64)
	if err != nil {
		return "", 0
	}
	path := filepath.Join(dir, sub[1])
	if rec, err := recorded(m.ID); err != nil || filepath.Clean(rec) != path {
		return "", 0
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return "", 0
	}
	return path, size
}

// handleSendFile sends the request's body as a file to the query's to.
func (s *Server) handleSendFile(w http.ResponseWriter, r *http.Request, c *client.Client) {
	q := r.URL.Query()
	to, kind, name := q.Get("to"), q.Get("kind"), attachment.SafeName(q.Get("name"))
	if to == "" || kind == "channel" {
		fail(w, http.StatusBadRequest, errors.New("files go to a person or a group"))
		return
	}
	if s.cfg.TempDir == "" {
		fail(w, http.StatusConflict, errors.New("sending files is not available here"))
		return
	}
	if err := os.MkdirAll(s.cfg.TempDir, 0o700); err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	tmp, err := os.MkdirTemp(s.cfg.TempDir, "upload-")
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	n, err := io.Copy(f, io.LimitReader(r.Body, attachment.MaxSize+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		fail(w, http.StatusBadRequest, fmt.Errorf("reading the file: %w", err))
		return
	case n > attachment.MaxSize:
		fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("a file is at most %d bytes", int64(attachment.MaxSize)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), fileTimeout)
	defer cancel()
	_, err = c.SendFile(ctx, to, path, "", s.progress(to, name))
	s.hub.publish(update{Kind: "sent", Peer: to})
	switch {
	case err == nil:
		reply(w, map[string]bool{"ok": true})
	case errors.Is(err, client.ErrNoSuchUser):
		fail(w, http.StatusNotFound, errors.New("no user by that name on this relay"))
	default:
		fail(w, http.StatusBadGateway, fmt.Errorf("not sent: %w", err))
	}
}

// progress returns a client.Progress telling the pages how far the upload
// of name to peer is, at most once per percent.
func (s *Server) progress(peer, name string) client.Progress {
	last := int64(-1)
	return func(done, total int64) {
		pct := int64(100)
		if total > 0 {
			pct = done * 100 / total
		}
		if pct == last {
			return
		}
		last = pct
		s.hub.publish(update{Kind: "progress", Peer: peer, Text: name, Done: done, Total: total})
	}
}

// handleFile serves the file a received message (kind, peer, id) holds,
// as a download.
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request, c *client.Client) {
	q := r.URL.Query()
	id, err := strconv.ParseInt(q.Get("id"), 10, 64)
	if err != nil {
		fail(w, http.StatusBadRequest, errors.New("which message?"))
		return
	}
	msgs, err := history(r.Context(), c, q.Get("kind"), q.Get("peer"), historyLimit)
	if err != nil {
		fail(w, http.StatusNotFound, err)
		return
	}
	for _, m := range msgs {
		if m.ID != id {
			continue
		}
		path, _ := savedFile(s.cfg.FilesDir, m, func(id int64) (string, error) { return c.SavedFilePath(r.Context(), id) })
		if path == "" {
			break
		}
		f, err := os.Open(path)
		if err != nil {
			fail(w, http.StatusNotFound, errors.New("the file is gone"))
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filepath.Base(path)}))
		http.ServeContent(w, r, "", fi.ModTime(), f)
		return
	}
	fail(w, http.StatusNotFound, errors.New("no saved file in that message"))
}
