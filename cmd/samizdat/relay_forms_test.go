package main

import (
	"context"
	"encoding/hex"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"samizdat/dialer"
	"samizdat/noisechan"
	"samizdat/relay/wire"
	"samizdat/transport/front/cdntest"
)

// Every endpoint form that relay --listen accepts is either dialable by a
// client with nothing but the invite, or refused at start with the reason.
func TestRelayListenForms(t *testing.T) {
	cdn, err := cdntest.Start("127.0.0.1:0", cdntest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cdn.Close()
	_, cdnPort, _ := net.SplitHostPort(cdn.Addr())
	cdnPin := hex.EncodeToString(cdn.Pin())
	secret := strings.Repeat("5a", 32)
	wrongPin := strings.Repeat("00", 32)
	ipv6 := false
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		l.Close()
		ipv6 = true
	}

	for _, tc := range []struct {
		name    string
		listen  string
		sni     string // the SNI the CDN must see (front)
		refused string // the reason the relay gives for refusing the form
		ipv6    bool
	}{
		{name: "bare", listen: "127.0.0.1:0"},
		{name: "tcp", listen: "tcp://127.0.0.1:0"},
		{name: "tcp-ipv6", listen: "tcp://[::1]:0", ipv6: true},
		{name: "wss", listen: "wss://127.0.0.3:0"},
		{name: "wss-ipv6", listen: "wss://[::1]:0", ipv6: true},
		{name: "wss-sni", listen: "wss://127.0.0.1:0?sni=www.example.org"},
		{name: "wss-path", listen: "wss://127.0.0.1:0/assets/ws"},
		{name: "wss-secret", listen: "wss://127.0.0.1:0?secret=" + secret},
		{name: "wss-all", listen: "wss://127.0.0.1:0/chat?sni=www.example.org&host=static.example.org&secret=" + secret},
		{name: "wss-wrong-pin", listen: "wss://127.0.0.1:0?tls_pin=" + wrongPin, refused: "tls_pin is not the pin of the relay's TLS key"},
		{name: "wss-all-interfaces", listen: "wss://0.0.0.0:0", refused: "listens on all interfaces"},
		{name: "front-bare", listen: "front://127.0.0.1:0", refused: "needs the CDN's address"},
		{name: "front-ip-no-sni", listen: "front://127.0.0.1:0?host=relay.example&address=" + cdn.Addr(), refused: "needs the front domain"},
		{name: "front", listen: "front://127.0.0.1:0?host=relay.example&sni=front.example&tls_pin=" + cdnPin + "&address=" + cdn.Addr(), sni: "front.example"},
		{name: "front-ip-pin", listen: "front://127.0.0.1:0?host=relay.example&tls_pin=" + cdnPin + "&address=" + cdn.Addr(), sni: ""},
		{name: "front-name", listen: "front://127.0.0.1:0/t?host=relay.example&secret=" + secret + "&tls_pin=" + cdnPin + "&address=localhost:" + cdnPort, sni: "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ipv6 && !ipv6 {
				t.Skip("no IPv6 loopback")
			}
			dir := filepath.Join(t.TempDir(), "relay")
			args := []string{"--data", dir, "--listen", tc.listen}
			if tc.refused != "" {
				refusedAtStart(t, tc.refused, args...)
				return
			}
			listen, _, _ := startRelay(t, args...)
			transport, bound, ok := strings.Cut(listen, "://")
			if !ok {
				transport, bound = "tcp", listen
			}
			if transport == "front" {
				if err := cdn.Route("relay.example", "http://"+bound); err != nil {
					t.Fatal(err)
				}
			}
			m := inviteManifest(t, filepath.Join(dir, "invite.txt"))
			cands := slices.DeleteFunc(dialer.CandidatesFrom(m), func(c dialer.Candidate) bool {
				return c.Endpoint.Transport != transport
			})
			if len(cands) != 1 {
				t.Fatalf("want one %s endpoint in the invite, have %v", transport, cands)
			}
			pingThrough(t, cands)
			if transport == "front" && !slices.ContainsFunc(cdn.Requests(), func(r cdntest.Request) bool {
				return r.Host == "relay.example" && r.SNI == tc.sni
			}) {
				t.Fatalf("the CDN saw no request for relay.example with SNI %q: %v", tc.sni, cdn.Requests())
			}
		})
	}
}

// refusedAtStart runs the relay command with args and checks that it
// exits at once with an error that says why.
func refusedAtStart(t *testing.T, why string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	home := t.TempDir()
	go func() {
		done <- run(ctx, &env{stdout: out, stderr: errOut, home: home}, append([]string{"relay"}, args...))
	}()
	select {
	case code := <-done:
		if code == 0 || !strings.Contains(errOut.String(), why) {
			t.Fatalf("exit %d, want a refusal saying %q: %s", code, why, errOut.String())
		}
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		t.Fatalf("the relay started: %s", out.String())
	}
}

// pingThrough dials cands with the client's dialer and exchanges a ping
// with the relay over the Noise channel.
func pingThrough(t *testing.T, cands []dialer.Candidate) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := noisechan.GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	nc, _, err := dialer.Dial(ctx, dialer.Config{Local: key}, cands)
	if err != nil {
		t.Fatalf("dial %v: %v", cands[0].Endpoint, err)
	}
	defer nc.Close()
	exchangePing(t, nc)
}

// exchangePing sends a ping on nc and checks that the relay answers it.
func exchangePing(t *testing.T, nc *noisechan.Conn) {
	t.Helper()
	if err := wire.WriteFrame(nc, &wire.Frame{Body: &wire.Frame_Request{Request: &wire.Request{Id: 1, Op: &wire.Request_Ping{Ping: &wire.Ping{}}}}}); err != nil {
		t.Fatal(err)
	}
	f, err := wire.ReadFrame(nc)
	if err != nil || f.GetResponse().GetPong() == nil {
		t.Fatalf("ping: %v %v", f, err)
	}
}
