package relay_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"samizdat/noisechan"
	"samizdat/relay"
)

// logRecorder is a slog.Handler that keeps every record, at every level.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRecord
}

// logRecord is a record kept by logRecorder, its attributes as text.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, rec)
	h.mu.Unlock()
	return nil
}

// The relay logs without Logger.With or groups; records stay flat.
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

func (h *logRecorder) records() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.recs)
}

// waitClosed waits until a record with message msg has been logged and
// the connection it names has closed, and returns that record.
func (h *logRecorder) waitClosed(t *testing.T, msg string) logRecord {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs := h.records()
		for _, r := range recs {
			if r.msg != msg {
				continue
			}
			for _, c := range recs {
				if c.msg == "connection closed" && c.attrs["conn"] == r.attrs["conn"] {
					return r
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q and then the connection closed in 30 s; logged:\n%s", msg, dump(recs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor waits until a record with message msg has been logged.
func (h *logRecorder) waitFor(t *testing.T, msg string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !slices.ContainsFunc(h.records(), func(r logRecord) bool { return r.msg == msg }) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in 30 s; logged:\n%s", msg, dump(h.records()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dump(recs []logRecord) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "  %v %q %v\n", r.level, r.msg, r.attrs)
	}
	return b.String()
}

// rawConn is a client connection whose TCP stream the test controls.
type rawConn struct {
	tcp *net.TCPConn
	nc  *noisechan.Conn
}

func (e *env) dialRaw(key noisechan.KeyPair) *rawConn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	nc, err := noisechan.Client(ctx, c, key, e.relayKey, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	return &rawConn{tcp: c.(*net.TCPConn), nc: nc}
}

// TestDisconnectLogLevels checks that the ordinary ends of a client's
// connection are logged at debug level only, and that a client breaking
// the protocol is logged at info level with the reason.
func TestDisconnectLogLevels(t *testing.T) {
	for _, c := range []struct {
		name string
		// end ends the connection; it runs after the relay took it.
		end    func(t *testing.T, e *env, h *logRecorder)
		msg    string     // the record that says how it ended
		level  slog.Level // its level
		errHas string     // what its err attribute says, if anything
	}{
		{"closed", func(t *testing.T, e *env, h *logRecorder) {
			rc := anonymous(t, e, h)
			rc.nc.Close()
		}, "peer disconnected", slog.LevelDebug, "EOF"},
		{"reset", func(t *testing.T, e *env, h *logRecorder) {
			rc := anonymous(t, e, h)
			rc.tcp.SetLinger(0) // close sends a reset
			rc.tcp.Close()
		}, "peer disconnected", slog.LevelDebug, "connection reset by peer"},
		{"hung up within a frame", func(t *testing.T, e *env, h *logRecorder) {
			rc := anonymous(t, e, h)
			rc.tcp.Write([]byte{0, 64, 1, 2, 3}) // a 64-byte message, cut short
			rc.tcp.Close()
		}, "peer disconnected", slog.LevelDebug, "unexpected EOF"},
		{"idle", func(t *testing.T, e *env, h *logRecorder) {
			anonymous(t, e, h) // and says nothing until the read timeout
		}, "idle connection; closing", slog.LevelDebug, ""},
		{"replaced", func(t *testing.T, e *env, h *logRecorder) {
			u := e.register("rosa", 0)
			e.dial(u.devices[1].noise)
		}, "replaced by a newer connection", slog.LevelDebug, ""},
		{"malformed frame", func(t *testing.T, e *env, h *logRecorder) {
			rc := anonymous(t, e, h)
			if err := rc.nc.WriteFrame([]byte{0x0a, 0x05}); err != nil { // a field cut short
				t.Fatal(err)
			}
		}, "malformed frame; closing", slog.LevelInfo, ""},
		{"garbage", func(t *testing.T, e *env, h *logRecorder) {
			rc := anonymous(t, e, h)
			b := make([]byte, 2+32)
			rand.Read(b[2:])
			b[1] = 32 // a 32-byte message that is not sealed with the channel's key
			rc.tcp.Write(b)
		}, "protocol violation; closing", slog.LevelInfo, "authentication failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &logRecorder{}
			e := newEnv(t, func(cfg *relay.Config) {
				cfg.Logger = slog.New(h)
				if c.name == "idle" {
					cfg.Limits.ReadTimeout = 200 * time.Millisecond
				}
			})
			c.end(t, e, h)
			r := h.waitClosed(t, c.msg)
			if r.level != c.level {
				t.Errorf("%q logged at %v, want %v", c.msg, r.level, c.level)
			}
			if !strings.Contains(r.attrs["err"], c.errHas) {
				t.Errorf("%q has err %q, want it to say %q", c.msg, r.attrs["err"], c.errHas)
			}
			for _, r := range h.records() {
				if r.level >= slog.LevelInfo && r.msg != "relay listening" && r.msg != c.msg {
					t.Errorf("logged at %v: %q %v", r.level, r.msg, r.attrs)
				}
			}
		})
	}
}

// anonymous connects without an account and waits until the relay has
// taken the connection.
func anonymous(t *testing.T, e *env, h *logRecorder) *rawConn {
	t.Helper()
	rc := e.dialRaw(newKey(t))
	h.waitFor(t, "anonymous connection")
	return rc
}
