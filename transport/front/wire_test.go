package front

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"samizdat/transport/decoy/decoytest"
	"samizdat/transport/internal/token"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, r := range []request{
		{op: opProbe},
		{op: opOpen, sid: [sidSize]byte{1, 2, 3}},
		{op: opPush, sid: [sidSize]byte{9}, seq: 7, data: []byte("abc")},
		{op: opPoll, seq: 1 << 40},
		{op: opStream},
		{op: opClose},
	} {
		got, err := parseRequest(r.marshal())
		if err != nil {
			t.Fatal(err)
		}
		if got.op != r.op || got.sid != r.sid || got.seq != r.seq || !bytes.Equal(got.data, r.data) {
			t.Fatalf("got %+v, want %+v", got, r)
		}
	}
	for _, bad := range [][]byte{
		nil,
		{1, opOpen},
		append([]byte{2, opOpen}, make([]byte, 24)...),              // version
		append([]byte{1, 9}, make([]byte, 24)...),                   // op
		append(append([]byte{1, opOpen}, make([]byte, 24)...), 'x'), // data on open
		append([]byte{1, opPush}, make([]byte, 24+maxPayload+1)...), // too big
	} {
		if _, err := parseRequest(bad); err == nil {
			t.Fatalf("parsed %x", bad[:min(len(bad), 30)])
		}
	}
}

func TestFrames(t *testing.T) {
	var b []byte
	b = appendFrame(b, frameHello, nil)
	b = appendFrame(b, frameData, []byte("hello"))
	b = appendFrame(b, frameEOF, nil)
	br := bufio.NewReader(bytes.NewReader(b))
	for _, want := range []struct {
		typ  byte
		data string
	}{{frameHello, ""}, {frameData, "hello"}, {frameEOF, ""}} {
		typ, data, err := readFrame(br, nil)
		if err != nil || typ != want.typ || string(data) != want.data {
			t.Fatalf("got %d %q %v", typ, data, err)
		}
	}
	if _, _, err := readFrame(br, nil); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	for _, bad := range [][]byte{
		{frameData, 0, 0},                   // short header
		{frameData, 0, 0, 0, 5, 'a'},        // short data
		{frameHello, 0, 0, 0, 1, 'a'},       // hello with data
		{7, 0, 0, 0, 0},                     // type
		{frameData, 0xff, 0xff, 0xff, 0xff}, // too long
	} {
		if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(bad)), nil); !errors.Is(err, errMalformed) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(request{op: opPush, seq: 3, data: []byte("data")}.marshal())
	f.Add(request{op: opOpen}.marshal())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.marshal(), b) {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzReadFrames(f *testing.F) {
	f.Add(appendFrame(appendFrame(nil, frameHello, nil), frameData, []byte("x")))
	f.Add([]byte{frameEOF, 0, 0, 0, 0})
	f.Add([]byte{frameData, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		var out []byte
		for {
			typ, data, err := readFrame(br, nil)
			if err != nil {
				if err == io.EOF && !bytes.Equal(out, b) {
					t.Fatal("frames do not re-encode to the input")
				}
				return
			}
			out = appendFrame(out, typ, data)
		}
	})
}

// FuzzOrigin posts arbitrary bodies to an origin, with and without a valid
// token: it must never panic, and opening a session (or anything
// unparseable) without a token gets the decoy.
func FuzzOrigin(f *testing.F) {
	f.Add(request{op: opOpen}.marshal(), false)
	f.Add(request{op: opPoll, data: []byte("x")}.marshal(), true)
	f.Add([]byte("GET / HTTP/1.1"), true)
	dec := decoytest.Handler()
	o := NewOrigin(OriginConfig{Path: tunnelPath, Secret: secret, IdleTimeout: time.Second, Decoy: dec})
	defer o.Close()
	go func() {
		for {
			c, err := o.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	f.Fuzz(func(t *testing.T, body []byte, withToken bool) {
		req := httptest.NewRequest(http.MethodPost, tunnelPath, bytes.NewReader(body))
		if withToken {
			tok, _ := token.New(secret, tunnelPath, time.Now(), rand.Reader)
			req.Header.Set("Cookie", cookieName+"="+tok)
		}
		r, err := parseRequest(body)
		if err == nil && r.op == opProbe {
			return // holds the response open by design
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		w := httptest.NewRecorder()
		o.ServeHTTP(w, req.WithContext(ctx))
		// Sessions opened by earlier inputs may be reached by their id;
		// opening one, or anything unparseable, needs the token.
		mustDecoy := !withToken && (err != nil || r.op == opOpen)
		if mustDecoy {
			// exactly what the decoy site answers the same request
			want := httptest.NewRecorder()
			dec.ServeHTTP(want, httptest.NewRequest(http.MethodPost, tunnelPath, bytes.NewReader(body)))
			if w.Code != want.Code || w.Body.String() != want.Body.String() {
				t.Fatalf("no token, yet status %d body %q; the decoy answers %d %q", w.Code, w.Body.Bytes(), want.Code, want.Body.Bytes())
			}
		}
	})
}
