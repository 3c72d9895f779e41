package tcp_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"samizdat/clock"
	"samizdat/noisechan"
	"samizdat/transport/tcp"
)

// byteConn is a net.Conn from src that reads r and discards what is
// written to it; written, if set, receives it instead.
type byteConn struct {
	r       io.Reader
	written *bytes.Buffer
	src     net.Addr
}

func (c *byteConn) Read(b []byte) (int, error) { return c.r.Read(b) }
func (c *byteConn) Write(b []byte) (int, error) {
	if c.written != nil {
		return c.written.Write(b)
	}
	return len(b), nil
}
func (*byteConn) Close() error                     { return nil }
func (*byteConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443} }
func (c *byteConn) RemoteAddr() net.Addr           { return c.src }
func (*byteConn) SetDeadline(time.Time) error      { return nil }
func (*byteConn) SetReadDeadline(time.Time) error  { return nil }
func (*byteConn) SetWriteDeadline(time.Time) error { return nil }

// oneListener hands a guarded listener (ln) the connections it is given.
type oneListener struct {
	next chan net.Conn
	ln   net.Listener
}

func newOneListener() *oneListener               { return &oneListener{next: make(chan net.Conn, 1)} }
func (l *oneListener) Addr() net.Addr            { return &net.TCPAddr{} }
func (l *oneListener) Close() error              { return nil }
func (l *oneListener) Accept() (net.Conn, error) { return <-l.next, nil }

// accept has the guarded listener accept c.
func (l *oneListener) accept(c net.Conn) *tcp.GuardedConn {
	l.next <- c
	g, _ := l.ln.Accept()
	return g.(*tcp.GuardedConn)
}

var (
	fuzzKeysOnce           sync.Once
	fuzzClient, fuzzServer noisechan.KeyPair
)

func fuzzKeys() (client, server noisechan.KeyPair) {
	fuzzKeysOnce.Do(func() {
		var err error
		if fuzzClient, err = noisechan.GenerateKeyPair(bytes.NewReader(bytes.Repeat([]byte{1}, 32))); err != nil {
			panic(err)
		}
		if fuzzServer, err = noisechan.GenerateKeyPair(bytes.NewReader(bytes.Repeat([]byte{2}, 32))); err != nil {
			panic(err)
		}
	})
	return fuzzClient, fuzzServer
}

// firstMessage is a client's first handshake message to the fuzz server,
// made at sent by its clock.
func firstMessage(t *testing.T, sent time.Time) []byte {
	client, server := fuzzKeys()
	var out bytes.Buffer
	// The client fails at reading the answer (there is none) after
	// writing its first message, which is all that is wanted.
	noisechan.ClientAt(context.Background(), &byteConn{r: bytes.NewReader(nil), written: &out}, client, server.Public, nil, sent)
	if out.Len() < 2 {
		t.Fatal("the client wrote no first message")
	}
	return out.Bytes()
}

// FuzzFirstMessage runs a sequence of first handshake messages, decided by
// ops, through one guarded listener's check (clock and replay cache) and
// the relay's side of the handshake: fresh messages from the clients'
// clocks at any offset from the server's (extreme ones too, from far), some
// replayed, some with a byte changed, from 8 sources. Whatever the
// sequence, nothing panics; every failure is a handshake failure; and a
// message is answered only if it is one a client made, carries a time
// within the replay window, and was never answered before. The first fresh
// message within the window is always answered.
//
// Each op is 4 bytes [kind, a, b, c]; kind%4: 0 a fresh message at
// int16(a,b) seconds from the server's clock, 1 the replay of message a,
// 2 message a with byte b XORed with c, 3 a fresh message at far (+a); c
// picks the source.
func FuzzFirstMessage(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0}, int64(0))
	f.Add([]byte{0, 0, 100, 1, 0, 0xff, 0x10, 2, 2, 0, 40, 0x80, 1, 1, 0, 3}, int64(-1))
	f.Add([]byte{3, 0, 0, 0, 3, 1, 0, 0, 0, 0, 119, 0, 0, 0, 121, 0, 0, 0x80, 0, 0}, int64(1)<<62)
	f.Add([]byte{3, 0, 0, 0}, int64(-1)<<63)
	f.Fuzz(func(t *testing.T, ops []byte, far int64) {
		if len(ops) > 4*64 {
			ops = ops[:4*64] // each op is a handshake: bound the time of one input
		}
		sim := clock.NewSim(time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC))
		now := sim.Now()
		ol := newOneListener()
		ol.ln = tcp.Guard(ol, tcp.GuardConfig{Secret: []byte("fuzz"), Clock: sim})
		_, server := fuzzKeys()

		type made struct {
			msg      []byte
			inWindow bool
		}
		var msgs []made
		answered := map[string]bool{}
		answeredAny := false
		for i := 0; i+4 <= len(ops); i += 4 {
			kind, a, b, c := ops[i], ops[i+1], ops[i+2], ops[i+3]
			var msg []byte
			fresh, inWindow := false, false
			switch kind % 4 {
			case 0, 3:
				sent := now.Add(time.Duration(int16(binary.BigEndian.Uint16([]byte{a, b}))) * time.Second)
				if kind%4 == 3 {
					sent = time.Unix(far+int64(a), 0)
				}
				msg = firstMessage(t, sent)
				d := sent.Unix() - now.Unix()
				inWindow = d >= -int64(tcp.ReplayWindow/time.Second) && d <= int64(tcp.ReplayWindow/time.Second)
				msgs = append(msgs, made{msg, inWindow})
				fresh = true
			case 1, 2:
				if len(msgs) == 0 {
					continue
				}
				m := msgs[int(a)%len(msgs)]
				msg = bytes.Clone(m.msg)
				if kind%4 == 2 {
					msg[int(b)%len(msg)] ^= c
				}
			}
			raw := &byteConn{r: bytes.NewReader(msg), src: &net.TCPAddr{IP: net.IPv4(198, 51, 100, c%8), Port: 40000 + int(c)}}
			gc := ol.accept(raw)
			nc, err := noisechan.ServerChecked(context.Background(), gc, server, nil, func(m noisechan.FirstMessage) error {
				return gc.CheckFirst(m.Ephemeral, m.Sent)
			})
			if err != nil {
				if !errors.Is(err, noisechan.ErrHandshake) {
					t.Fatalf("op %d: a failure that is not a handshake failure: %v", i/4, err)
				}
				if fresh && inWindow && !answeredAny {
					t.Fatalf("op %d: the first fresh message within the window was refused: %v", i/4, err)
				}
				continue
			}
			nc.Close()
			var known *made
			for j := range msgs {
				if bytes.Equal(msgs[j].msg, msg) {
					known = &msgs[j]
				}
			}
			switch {
			case known == nil:
				t.Fatalf("op %d: a message no client made was answered", i/4)
			case !known.inWindow:
				t.Fatalf("op %d: a message with a time outside the replay window was answered", i/4)
			case answered[string(msg)]:
				t.Fatalf("op %d: a replayed message was answered", i/4)
			}
			answered[string(msg)] = true
			answeredAny = true
		}
	})
}
