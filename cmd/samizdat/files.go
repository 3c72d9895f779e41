package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"samizdat/client"
	"samizdat/client/clientdb"
	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/store/blobdir"
	"samizdat/store/s3blob"
)

// openBlobDir opens the single-binary relay's attachments, in blobs/
// under its data directory.
func openBlobDir(dataDir string) (relay.BlobStore, error) {
	b, err := blobdir.Open(filepath.Join(dataDir, "blobs"))
	if err != nil {
		return nil, fmt.Errorf("opening the attachments directory: %w", err)
	}
	return b, nil
}

// openBlobURL opens the attachment store --blobs names: an S3 bucket.
func openBlobURL(ctx context.Context, u string) (relay.BlobStore, error) {
	b, err := s3blob.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("opening the attachment store: %w", err)
	}
	return b, nil
}

// errUploadStopped marks a file upload that stopped before the relay had
// stored all of it; its message says how to resume.
var errUploadStopped = errors.New("the upload stopped")

// errFileRefused marks a file that cannot be sent as given (missing,
// unreadable, not a regular file, too large): nothing was queued.
var errFileRefused = errors.New("the file cannot be sent")

// sendMessage sends text to `to`, with the file at path when path is set.
func sendMessage(ctx context.Context, e *env, c *client.Client, to, text, path string) (clientdb.Message, error) {
	if path == "" {
		return c.Send(ctx, to, text)
	}
	path = e.path(path)
	msg, err := c.SendFile(ctx, to, path, text, progressBar(e, "upload "+filepath.Base(path)))
	var se *client.StatusError
	switch {
	case err == nil, msg.EnvelopeID != [16]byte{}:
		// Uploaded; the message itself was queued (see runSend).
		return msg, err
	case errors.Is(err, client.ErrNoSuchUser), errors.Is(err, client.ErrNotMember), errors.Is(err, client.ErrDeviceRemoved):
		return msg, err
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission), errors.Is(err, client.ErrNotSendable):
		// The file itself: nothing was uploaded or queued.
		return msg, fmt.Errorf("%w: %w\nhint: nothing was sent", errFileRefused, err)
	case errors.As(err, &se) && se.Status == wire.Status_QUOTA_EXCEEDED:
		return msg, fmt.Errorf("%w: %w\nhint: the relay keeps your files for its retention period; send this one later", errUploadStopped, err)
	}
	return msg, fmt.Errorf("%w: %w\nhint: send the same file again to resume from the last chunk the relay stored", errUploadStopped, err)
}

// downloadFiles saves the files received into dir (HOME/files when
// empty), printing each message once its file is saved (the client's
// event handler does), with a progress bar on a terminal.
func downloadFiles(ctx context.Context, e *env, c *client.Client, dir string) error {
	err := c.DownloadFiles(ctx, filesDir(e, dir), func(name string) client.Progress { return progressBar(e, "download "+name) })
	if err != nil {
		return fmt.Errorf("%w\nhint: the next recv resumes the download where it stopped", err)
	}
	return nil
}

// filesDir is where received files go: dir (from --files), else
// HOME/files.
func filesDir(e *env, dir string) string {
	if dir == "" {
		return filepath.Join(e.home, "files")
	}
	return e.path(dir)
}

// progressBar returns a Progress that draws a bar on stderr when it is a
// terminal and the transfer has taken over a second; else nil.
func progressBar(e *env, label string) client.Progress {
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	start := time.Now()
	drawn := false
	return func(done, total int64) {
		el := time.Since(start)
		if el < time.Second && !drawn {
			return
		}
		const width = 30
		frac := 1.0
		if total > 0 {
			frac = float64(done) / float64(total)
		}
		n := int(frac * width)
		rate := float64(done) / el.Seconds() / (1 << 20)
		fmt.Fprintf(f, "\r%s [%s%s] %3.0f%% %.1f MiB/s", label, strings.Repeat("#", n), strings.Repeat(" ", width-n), frac*100, rate)
		drawn = true
		if done >= total {
			fmt.Fprintln(f)
		}
	}
}
