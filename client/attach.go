package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/attachment"
	"samizdat/client/clientdb"
	"samizdat/client/internal/contentpb"
	"samizdat/relay/wire"
)

// Attachments: SendFile seals a file in chunks under a fresh key (package
// attachment), uploads them to the relay as a blob and sends the blob's id,
// key, digest, size, name and type end to end with a text. Received, the
// pointer waits in the database until DownloadFiles fetches the blob,
// opens and checks every chunk, saves the file and only then records and
// reports the message. Both directions keep one chunk in memory, go
// through the client's one connection (its dialer, transports and
// bridges) and resume where they stopped: after a broken connection or a
// relay restart within the command, and from the last stored chunk with
// the next command.

// transferPatience is how long an upload or download keeps retrying one
// chunk while the relay is out of reach before the command gives up (the
// next one resumes).
const transferPatience = 90 * time.Second

// downloadSyncEvery is how many chunks a download writes between two
// durable records of its progress.
const downloadSyncEvery = 16

// Progress is told how many bytes of a transfer are done, of total.
type Progress func(done, total int64)

// FileLabel is how a file shows in the history and in recv:
// "[file NAME, SIZE bytes] TEXT" (no trailing space when text is empty).
func FileLabel(name string, size int64, text string) string {
	l := fmt.Sprintf("[file %s, %d bytes]", name, size)
	if text != "" {
		l += " " + text
	}
	return l
}

// fileSend is an uploaded file going out with a message (nil: none).
type fileSend struct {
	p          *contentpb.AttachmentPointer
	peer, path string // its uploads row
}

func (f *fileSend) label(text string) string {
	if f == nil {
		return text
	}
	return FileLabel(attachment.SafeName(f.p.FileName), int64(f.p.Size), text)
}

func (f *fileSend) pointer() *contentpb.AttachmentPointer {
	if f == nil {
		return nil
	}
	return f.p
}

// sent forgets the upload, in the transaction that queues its message.
func (f *fileSend) sent(ctx context.Context, s *clientdb.Store) error {
	if f == nil {
		return nil
	}
	return s.DeleteUpload(ctx, f.peer, f.path)
}

// SendFile uploads the file at path and sends it with text to the user or
// group to, like Send: it returns once the relay has stored the whole file
// and the message. An upload that stops (the relay out of reach longer
// than transferPatience) returns the reason; the next SendFile of the same
// file (path, size and modification time) to the same name resumes it from
// the last chunk the relay stored.
func (c *Client) SendFile(ctx context.Context, to, path, text string, progress Progress) (clientdb.Message, error) {
	peer, _, err := c.target(ctx, to)
	if err != nil {
		return clientdb.Message{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return clientdb.Message{}, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return clientdb.Message{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return clientdb.Message{}, err
	case !fi.Mode().IsRegular():
		return clientdb.Message{}, fmt.Errorf("%w: %s is not a regular file", ErrNotSendable, path)
	case fi.Size() > attachment.MaxSize:
		return clientdb.Message{}, fmt.Errorf("%w: %s has %d bytes: a file is at most %d", ErrNotSendable, path, fi.Size(), int64(attachment.MaxSize))
	}
	st := c.db.Store()
	u, err := st.UploadFor(ctx, peer, abs)
	if err != nil && !errors.Is(err, clientdb.ErrNotFound) {
		return clientdb.Message{}, err
	}
	if err != nil || u.Size != fi.Size() || !u.MTime.Equal(fi.ModTime()) || len(u.Key) != attachment.KeySize {
		// A new file (or this one changed): a fresh key and blob.
		u = clientdb.Upload{Peer: peer, Path: abs, Size: fi.Size(), MTime: fi.ModTime(), Key: make([]byte, attachment.KeySize)}
		if _, err := io.ReadFull(c.cfg.Rand, u.Key); err != nil {
			return clientdb.Message{}, err
		}
		if err := st.PutUpload(ctx, u); err != nil {
			return clientdb.Message{}, err
		}
	}
	digest, err := c.upload(ctx, f, &u, progress)
	if err != nil {
		return clientdb.Message{}, fmt.Errorf("uploading %s: %w", filepath.Base(abs), err)
	}
	return c.sendTo(ctx, to, text, &fileSend{
		p: &contentpb.AttachmentPointer{
			Id: u.BlobID, Key: u.Key, Digest: digest, Size: uint64(u.Size),
			FileName: filepath.Base(abs), ContentType: mime.TypeByExtension(filepath.Ext(abs)),
		},
		peer: peer, path: abs,
	})
}

// upload seals f and uploads what the relay lacks of it to u's blob
// (creating the blob if need be), and returns the blob's digest.
func (c *Client) upload(ctx context.Context, f *os.File, u *clientdb.Upload, progress Progress) ([]byte, error) {
	sealer, err := attachment.NewSealer(u.Key, u.Size)
	if err != nil {
		return nil, err
	}
	stored, err := c.startUpload(ctx, u)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, attachment.ChunkSize)
	bufs := make([][]byte, transferWindow+1) // chunk i is sealed into bufs[i%len]: free once out of the window
	win := &window{c: c, ctx: ctx, op: "upload"}
	answered := func() error {
		req, resp, err := win.next()
		if se := (*StatusError)(nil); errors.As(err, &se) && se.Status == wire.Status_NOT_FOUND {
			// Expired on the relay: the next send starts a new blob.
			u.BlobID = nil
			if dbErr := c.db.Store().PutUpload(ctx, *u); dbErr != nil {
				return dbErr
			}
		}
		if err != nil {
			return err
		}
		i := req.GetUploadChunk().GetIndex()
		if stored = resp.GetUploadState().GetStored(); stored <= i {
			return fmt.Errorf("the relay did not store chunk %d", i)
		}
		if progress != nil {
			progress(min(int64(stored)*attachment.ChunkSize, u.Size), u.Size)
		}
		return nil
	}
	for !sealer.Done() {
		i := sealer.Next()
		n := attachment.PlainLen(u.Size, i)
		if got, err := f.ReadAt(plain[:n], int64(i)*attachment.ChunkSize); got != n {
			return nil, fmt.Errorf("reading the file: %w (did it change?)", err)
		}
		if win.full() {
			if err := answered(); err != nil {
				return nil, err
			}
		}
		b := &bufs[int(i)%len(bufs)]
		if *b, err = sealer.Seal((*b)[:0], plain[:n]); err != nil {
			return nil, err
		}
		if i < stored {
			continue // on the relay already: sealed again only for the digest
		}
		win.send(&wire.Request{Op: &wire.Request_UploadChunk{UploadChunk: &wire.UploadChunk{Id: u.BlobID, Index: i, Data: *b}}})
	}
	for !win.empty() {
		if err := answered(); err != nil {
			return nil, err
		}
	}
	return sealer.Digest()
}

// transferWindow is how many chunk requests a transfer keeps in flight,
// to hide the round trip to the relay (which answers a connection's
// uploads in order: relay.uploadLane).
const transferWindow = 4

// window is a transfer's chunk requests in flight, answered in the order
// they were sent. When one fails, the later ones are drained and all of
// them are sent again one at a time, patiently (callPatiently): every
// chunk request is idempotent.
type window struct {
	c   *Client
	ctx context.Context
	op  string
	q   []flight
}

type flight struct {
	req  *wire.Request
	wait func() (*wire.Response, error) // nil once answered
	resp *wire.Response
}

func (w *window) full() bool  { return len(w.q) >= transferWindow }
func (w *window) empty() bool { return len(w.q) == 0 }

// send starts req.
func (w *window) send(req *wire.Request) {
	w.q = append(w.q, flight{req: req, wait: w.c.startCall(w.ctx, w.op, req)})
}

// next returns the oldest request in flight and its answer.
func (w *window) next() (*wire.Request, *wire.Response, error) {
	f := &w.q[0]
	if f.wait != nil {
		resp, err := f.wait()
		f.wait, f.resp = nil, resp
		if err != nil {
			for i := range w.q {
				if g := &w.q[i]; g.wait != nil {
					g.wait()
					g.wait = nil
				}
			}
			for i := range w.q {
				g := &w.q[i]
				if g.resp, err = w.c.callPatiently(w.ctx, w.op, g.req); err != nil {
					req := g.req
					w.q = nil
					return req, nil, err
				}
			}
		}
	}
	req, resp := w.q[0].req, w.q[0].resp
	w.q = w.q[1:]
	return req, resp, nil
}

// startUpload returns how many chunks of u's blob the relay holds,
// creating the blob (and recording its id in u and the database) when u has
// none or the relay's expired.
func (c *Client) startUpload(ctx context.Context, u *clientdb.Upload) (uint32, error) {
	if len(u.BlobID) > 0 {
		resp, err := c.callPatiently(ctx, "upload", &wire.Request{Op: &wire.Request_UploadStart{UploadStart: &wire.UploadStart{Id: u.BlobID}}})
		var se *StatusError
		if !errors.As(err, &se) || se.Status != wire.Status_NOT_FOUND {
			return resp.GetUploadState().GetStored(), err
		}
	}
	resp, err := c.callPatiently(ctx, "upload", &wire.Request{Op: &wire.Request_UploadStart{UploadStart: &wire.UploadStart{
		Size: uint64(attachment.SealedSize(u.Size)), ChunkSize: attachment.SealedChunkSize,
	}}})
	if err != nil {
		return 0, err
	}
	if id := resp.GetUploadState().GetId(); len(id) != 16 {
		return 0, errors.New("the relay answered without a blob id")
	} else {
		u.BlobID = id
	}
	return 0, c.db.Store().PutUpload(ctx, *u)
}

// callPatiently is call for transfers: while the relay is out of reach
// (or briefly refuses: rate limit, internal error) it retries with backoff
// for up to transferPatience. The requests it carries are idempotent.
func (c *Client) callPatiently(ctx context.Context, op string, req *wire.Request) (*wire.Response, error) {
	giveUp := c.cfg.Clock.Now().Add(transferPatience)
	wait := 200 * time.Millisecond
	for {
		resp, err := c.call(ctx, op, req)
		var se *StatusError
		retry := errors.Is(err, ErrDisconnected) || errors.Is(err, ErrUnreachable) ||
			errors.As(err, &se) && (se.Status == wire.Status_RATE_LIMITED || se.Status == wire.Status_INTERNAL)
		if !retry || ctx.Err() != nil || c.cfg.Clock.Now().After(giveUp) {
			return resp, err
		}
		d := wait
		if se != nil && se.RetryAfter > d {
			d = se.RetryAfter
		}
		select {
		case <-c.cfg.Clock.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// errBadPointer refuses an attachment pointer that cannot name a file.
var errBadPointer = fmt.Errorf("%w: a malformed attachment pointer", attachment.ErrRefused)

// checkPointer checks what a received pointer says.
func checkPointer(p *contentpb.AttachmentPointer) error {
	switch {
	case len(p.GetId()) != 16, len(p.GetKey()) != attachment.KeySize, len(p.GetDigest()) != attachment.DigestSize:
		return errBadPointer
	case p.GetSize() > attachment.MaxSize:
		return fmt.Errorf("%w: larger than %d bytes", errBadPointer, int64(attachment.MaxSize))
	case len(p.GetFileName()) > 4096 || len(p.GetContentType()) > 256:
		return fmt.Errorf("%w: name or type too long", errBadPointer)
	}
	return nil
}

// holdFile records a received file for DownloadFiles (in the transaction
// that stores its envelope). A malformed pointer is refused: an
// EventRefused, and nothing to download.
func (c *Client) holdFile(ctx context.Context, s *clientdb.Store, d clientdb.Download, p *contentpb.AttachmentPointer) ([]Event, error) {
	if err := checkPointer(p); err != nil {
		peer := d.Peer
		if d.Sender != "" {
			peer = d.Sender
		}
		return []Event{{Kind: EventRefused, Peer: peer, Err: err}}, nil
	}
	b, err := proto.Marshal(p)
	if err != nil {
		return nil, err
	}
	d.Pointer = b
	if !d.Outgoing {
		c.stats.received.Add(1) // a synced copy was not received, as for texts
	}
	return nil, s.AddDownload(ctx, d)
}

// DownloadFiles downloads the files received and not saved yet (from
// accepted contacts and groups) into dir: each completely, every chunk
// authenticated and the whole checked against its digest, saved under its
// sender's name reduced to a safe base name (attachment.SafeName; " (1)"
// and so on before the extension when taken). Only then is its message
// recorded and reported (EventMessage or EventGroupMessage, whose Text is
// FileLabel of the saved name and the text). A file that fails its checks
// or that the relay no longer has is refused: an EventRefused with the
// reason, nothing saved. A download the relay's absence stops returns the
// error, and the next DownloadFiles resumes it at its last synced chunk.
// progress, if not nil, gives a Progress for each file.
func (c *Client) DownloadFiles(ctx context.Context, dir string, progress func(name string) Progress) error {
	c.files.mu.Lock()
	defer c.files.mu.Unlock()
	downloads, err := c.db.Store().Downloads(ctx)
	if err != nil || len(downloads) == 0 {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, d := range downloads {
		if !c.mayDownload(ctx, d) {
			continue // blocked since: it waits, unread
		}
		var p contentpb.AttachmentPointer
		if err := proto.Unmarshal(d.Pointer, &p); err != nil {
			return err
		}
		var prog Progress
		if progress != nil {
			prog = progress(attachment.SafeName(p.FileName))
		}
		name, err := c.download(ctx, dir, d, &p, prog)
		if errors.Is(err, attachment.ErrRefused) {
			if err := c.refuseFile(ctx, dir, d, &p, err); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("downloading %s: %w", attachment.SafeName(p.FileName), err)
		}
		if err := c.fileSaved(ctx, d, FileLabel(name, int64(p.Size), d.Body), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// fileSaver serializes DownloadFiles and, once SaveFilesTo started it,
// saves received files as they arrive.
type fileSaver struct {
	mu   sync.Mutex // held by DownloadFiles
	once sync.Once
	kick atomic.Pointer[chan struct{}] // nil until SaveFilesTo
}

// fileRetry is how long the background saver waits to try again after a
// download stopped (the relay out of reach).
const fileRetry = 30 * time.Second

// SaveFilesTo has the client save received files into dir as they arrive
// (as DownloadFiles does: each message is reported once its file is
// saved), until Close: for a client that keeps receiving (chat,
// recv --wait). A download that stops is tried again at the next delivery
// or after fileRetry. Only the first call counts.
func (c *Client) SaveFilesTo(dir string) {
	c.files.once.Do(func() {
		kick := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		c.wg.Add(2)
		go func() {
			defer c.wg.Done()
			<-c.closed
			cancel()
		}()
		go func() {
			defer c.wg.Done()
			var retry <-chan time.Time
			for {
				select {
				case <-kick:
				case <-retry:
				case <-ctx.Done():
					return
				}
				retry = nil
				if err := c.DownloadFiles(ctx, dir, nil); err != nil && ctx.Err() == nil {
					c.cfg.Logger.Debug("saving received files stopped", "err", err)
					retry = c.cfg.Clock.After(fileRetry)
				}
			}
		}()
		c.files.kick.Store(&kick)
		c.kickFiles() // what waits already
	})
}

// kickFiles tells the background saver, if SaveFilesTo started it, to look
// for files to save.
func (c *Client) kickFiles() {
	if k := c.files.kick.Load(); k != nil {
		select {
		case *k <- struct{}{}:
		default:
		}
	}
}

// mayDownload reports whether d comes from a group or from a sender not
// blocked (a message request's file is saved as its text is shown; it
// gets no receipt until the user accepts the sender).
func (c *Client) mayDownload(ctx context.Context, d clientdb.Download) bool {
	if _, ok := clientdb.ParseGroupPeer(d.Peer); ok {
		return true
	}
	st, err := c.db.Store().PeerState(ctx, d.Peer)
	return err == nil && st != clientdb.PeerBlocked
}

// errExpired refuses a file the relay no longer has.
var errExpired = fmt.Errorf("%w: the relay no longer has the file (expired)", attachment.ErrRefused)

// download fetches, opens and saves one file and returns the name it was
// saved under.
func (c *Client) download(ctx context.Context, dir string, d clientdb.Download, p *contentpb.AttachmentPointer, progress Progress) (string, error) {
	size := int64(p.Size)
	part := partPath(dir, d.EnvelopeID)
	var o *attachment.Opener
	var err error
	done := int64(0)
	if d.Dir == dir && d.State != nil {
		if o, err = attachment.ResumeOpener(p.Key, size, p.Digest, d.State); err == nil {
			done = d.Done
		}
	}
	if done == 0 {
		if o, err = attachment.NewOpener(p.Key, size, p.Digest); err != nil {
			return "", err
		}
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if fi.Size() < done {
		// The partial file lost what was recorded: start again.
		done = 0
		if o, err = attachment.NewOpener(p.Key, size, p.Digest); err != nil {
			return "", err
		}
	}
	if err := f.Truncate(done); err != nil {
		return "", err
	}
	plain := make([]byte, 0, attachment.ChunkSize)
	win := &window{c: c, ctx: ctx, op: "download"}
	for ask := o.Next(); !o.Done(); {
		for ; ask < attachment.Chunks(size) && !win.full(); ask++ {
			win.send(&wire.Request{Op: &wire.Request_DownloadChunk{DownloadChunk: &wire.DownloadChunk{Id: p.Id, Index: ask}}})
		}
		i := o.Next()
		_, resp, err := win.next()
		if se := (*StatusError)(nil); errors.As(err, &se) && se.Status == wire.Status_NOT_FOUND {
			err = errExpired
		}
		if err != nil {
			return "", err
		}
		if plain, err = o.Open(plain[:0], resp.GetDownloadedChunk().GetData()); err != nil {
			return "", err
		}
		if _, err := f.WriteAt(plain, done); err != nil {
			return "", err
		}
		done += int64(len(plain))
		if progress != nil {
			progress(done, size)
		}
		if (i+1)%downloadSyncEvery == 0 && !o.Done() {
			if err := c.syncDownload(ctx, f, d.EnvelopeID, dir, done, o); err != nil {
				return "", err
			}
		}
	}
	if err := o.Finish(); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	f = nil
	// Complete and verified: now it gets its name.
	placeholder, name, err := attachment.CreateUnique(dir, attachment.SafeName(p.FileName))
	if err != nil {
		return "", err
	}
	placeholder.Close()
	if err := os.Rename(part, filepath.Join(dir, name)); err != nil {
		os.Remove(filepath.Join(dir, name))
		return "", err
	}
	return name, nil
}

// partPath is where the download of the file of envelope eid into dir
// is written until it is complete (a name SafeName never gives).
func partPath(dir string, eid [16]byte) string {
	return filepath.Join(dir, ".samizdat-"+hex.EncodeToString(eid[:])+".part")
}

// syncDownload makes the partial file durable up to done and records it.
func (c *Client) syncDownload(ctx context.Context, f *os.File, eid [16]byte, dir string, done int64, o *attachment.Opener) error {
	if err := f.Sync(); err != nil {
		return err
	}
	st, err := o.State()
	if err != nil {
		return err
	}
	return c.db.Store().SetDownloadProgress(ctx, eid, dir, done, st)
}

// fileSaved records and reports the message of a file saved at path, and
// sends a delivery receipt for it. A file under a disappearing-message
// timer is recorded with its message, to be deleted with it (see
// deleteExpired). The copy of a file sent from another of the account's
// devices (d.Outgoing) only completes its message, in the history
// already, and is reported to no one; if that message disappeared before
// the file was saved, the file goes too.
func (c *Client) fileSaved(ctx context.Context, d clientdb.Download, body, path string) error {
	var ev *Event
	gone := false
	err := c.db.Tx(ctx, func(s *clientdb.Store) error {
		if err := s.DeleteDownload(ctx, d.EnvelopeID); err != nil {
			return err
		}
		if d.Outgoing {
			m, err := s.MessageByEnvelope(ctx, d.EnvelopeID)
			if errors.Is(err, clientdb.ErrNotFound) {
				gone = true
				return nil
			}
			if err != nil {
				return err
			}
			if err := s.SetMessageBody(ctx, d.EnvelopeID, body); err != nil {
				return err
			}
			return c.keepSavedFile(ctx, s, m.ID, d.ExpireTimer, path, false)
		}
		m := clientdb.Message{EnvelopeID: d.EnvelopeID, Peer: d.Peer, Sender: d.Sender, Body: body, SentAt: d.SentAt, At: c.cfg.Now(), Status: clientdb.StatusReceived}
		id, err := s.AddMessage(ctx, m)
		if err != nil {
			return err
		}
		if err := c.keepSavedFile(ctx, s, id, d.ExpireTimer, path, true); err != nil {
			return err
		}
		if gid, ok := clientdb.ParseGroupPeer(d.Peer); ok {
			g, err := s.Group(ctx, gid)
			if err != nil {
				return err
			}
			ev = &Event{Kind: EventGroupMessage, Group: g.Name, Peer: d.Sender, Text: body, EnvelopeID: d.EnvelopeID, SentAt: d.SentAt}
			return nil
		}
		ev = &Event{Kind: EventMessage, Peer: d.Peer, Text: body, EnvelopeID: d.EnvelopeID, SentAt: d.SentAt}
		if c.cfg.NoReceipts || d.Peer == c.username {
			return nil
		}
		if st, err := s.PeerState(ctx, d.Peer); err != nil || st != clientdb.PeerAccepted {
			return err // a message request: no receipt until the user accepts them
		}
		return c.queueReceipt(ctx, s, d.Peer, d.EnvelopeID)
	})
	if err != nil {
		return err
	}
	if gone {
		return os.Remove(path)
	}
	if ev != nil {
		c.emit(*ev)
	}
	return nil
}

// keepSavedFile records the file at path as saved for the message id
// (SavedFilePath), and, under a timer of secs seconds (none when 0), to be
// deleted with the message; with start, the message's timer starts now (it
// did when it was stored otherwise).
func (c *Client) keepSavedFile(ctx context.Context, s *clientdb.Store, id int64, secs uint32, path string, start bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if start && secs > 0 {
		if err := c.expireAfter(ctx, s, id, secs); err != nil {
			return err
		}
	}
	return s.AddSavedFile(ctx, id, clientdb.SavedFile{Path: path, Size: fi.Size(), MTime: fi.ModTime()})
}

// refuseFile drops a file that failed its checks: nothing is saved, the
// history says it was refused, and an EventRefused gives the reason.
func (c *Client) refuseFile(ctx context.Context, dir string, d clientdb.Download, p *contentpb.AttachmentPointer, why error) error {
	for _, dir := range []string{dir, d.Dir} {
		if dir != "" {
			os.Remove(partPath(dir, d.EnvelopeID))
		}
	}
	err := c.db.Tx(ctx, func(s *clientdb.Store) error {
		if err := s.DeleteDownload(ctx, d.EnvelopeID); err != nil {
			return err
		}
		body := FileLabel(attachment.SafeName(p.FileName), int64(p.Size), d.Body) + " (refused: " + why.Error() + ")"
		if d.Outgoing {
			return s.SetMessageBody(ctx, d.EnvelopeID, body) // the copy of one's own message
		}
		_, err := s.AddMessage(ctx, clientdb.Message{EnvelopeID: d.EnvelopeID, Peer: d.Peer, Sender: d.Sender, Body: body, SentAt: d.SentAt, At: c.cfg.Now(), Status: clientdb.StatusReceived})
		return err
	})
	if err != nil {
		return err
	}
	peer := d.Peer
	if d.Sender != "" {
		peer = d.Sender
	}
	c.emit(Event{Kind: EventRefused, Peer: peer, Err: why})
	return nil
}

// SavedFilePath returns where the file of the message with the local id
// (clientdb.Message.ID) was saved, as the client recorded it when it saved
// it; ErrNoSavedFile for a message that brought no file (its text may
// still look like a file's label: only this record says a file is its own).
func (c *Client) SavedFilePath(ctx context.Context, id int64) (string, error) {
	f, err := c.db.Store().SavedFileOf(ctx, id)
	if errors.Is(err, clientdb.ErrNotFound) {
		return "", ErrNoSavedFile
	}
	return f.Path, err
}

// ErrNotSendable: SendFile was given something that is not a regular file
// of at most attachment.MaxSize bytes; nothing was sent or queued.
var ErrNotSendable = errors.New("client: not a file that can be sent")

// ErrNoSavedFile: the message brought no file this client saved.
var ErrNoSavedFile = errors.New("client: no file saved for the message")
