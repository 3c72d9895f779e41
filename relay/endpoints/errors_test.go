package endpoints_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"samizdat/relay/endpoints"
)

// checkOperatorError checks an error an operator reads: one line, one
// "endpoints: " in front, no "bad config" filler, and every part of want
// (the reason and what to do) in it.
func checkOperatorError(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one saying %q", what, want)
		return
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("%s: more than one line: %q", what, msg)
	}
	if !strings.HasPrefix(msg, "endpoints: ") || strings.Count(msg, "endpoints: ") != 1 {
		t.Errorf("%s: want one \"endpoints: \" in front: %q", what, msg)
	}
	if strings.Contains(msg, "bad config") {
		t.Errorf("%s: says \"bad config\" instead of the reason: %q", what, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s: %q does not say %q", what, msg, w)
		}
	}
}

func TestSpecErrors(t *testing.T) {
	for _, c := range []struct {
		url  string
		want []string
	}{
		{"garbage://x", []string{`unknown transport "garbage"`, "want tcp, wss or front"}},
		{"tcp://x", []string{`listen address "x" is not HOST:PORT`}},
		{"tcp://127.0.0.1:1?sni=x", []string{"a tcp endpoint takes no sni", "for wss and front"}},
		{"tcp://127.0.0.1:1?bogus=1", []string{`unknown parameter "bogus"`, "want name, address"}},
		{"tcp://127.0.0.1:1?name=a&name=b", []string{"name given 2 times; give it once"}},
		{"tcp://127.0.0.1:1?cohort=-1", []string{`cohort "-1" is not a number from 0 to`}},
		{"tcp://127.0.0.1:1?address=nope", []string{`address "nope" is not the HOST:PORT clients dial`}},
		{"tcp://u@127.0.0.1:1", []string{"user, fragment or opaque part", "want TRANSPORT://HOST:PORT"}},
		{"tcp://127.0.0.1:1?name=a%20b", []string{`endpoint name "a b": at most 128 bytes and no spaces`}},
		{"wss://127.0.0.1:1?secret=short", []string{"secret must be at least 16 bytes", "leave it out"}},
		{"wss://127.0.0.1:1?tls_pin=00", []string{"tls_pin must be 32 bytes"}},
		{"wss://127.0.0.1:1%zz", []string{"does not parse", "tcp://0.0.0.0:7001"}},
	} {
		_, err := endpoints.ParseURL(c.url)
		if !errors.Is(err, endpoints.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", c.url, err)
		}
		checkOperatorError(t, c.url, err, c.want...)
	}
	// The secret given is never repeated back.
	_, err := endpoints.ParseURL("wss://127.0.0.1:1?secret=0123456789abcdef0123456789&bogus=1")
	if err == nil || strings.Contains(err.Error(), "0123456789") {
		t.Errorf("error with a secret in the URL: %v", err)
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"bad endpoint", `{"endpoints": [{"transport": "tcp", "listen": "127.0.0.1:1"}, {"transport": "carrier-pigeon", "listen": "127.0.0.1:2"}]}`,
			[]string{`config endpoint 1: unknown transport "carrier-pigeon"`}},
		{"same name twice", `{"endpoints": [{"name": "a", "transport": "tcp", "listen": "127.0.0.1:1"}, {"name": "a", "transport": "tcp", "listen": "127.0.0.1:2"}]}`,
			[]string{`two endpoints in the config file are named "a"`, `give one another "name"`}},
		{"bad ttl", `{"manifest_ttl": "a while", "endpoints": []}`, []string{`manifest_ttl "a while" is not a positive duration`}},
		{"bad channel", `{"endpoints": [], "channels": [{"kind": "gopher"}]}`, []string{`config channel 0: unknown kind "gopher"; want https, doh or front`}},
		{"unknown field", `{"endpoint": []}`, []string{"the config file is not valid", `unknown field "endpoint"`}},
	} {
		_, err := endpoints.ParseFile([]byte(c.file))
		if !errors.Is(err, endpoints.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", c.name, err)
		}
		checkOperatorError(t, c.name, err, c.want...)
	}
}

// TestAdminErrors checks what the admin command reports when the relay
// refuses: the reason and what to do, on one line.
func TestAdminErrors(t *testing.T) {
	r := newRelay(t)
	m := r.start(t, nil, "tcp://127.0.0.1:0?name=flagged")
	sock := filepath.Join(r.dir, endpoints.SocketFile)
	if err := m.ServeAdmin(sock); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	call := func(req endpoints.Request) error {
		t.Helper()
		_, err := endpoints.Call(ctx, sock, req)
		if err != nil && !errors.Is(err, endpoints.ErrAdmin) {
			t.Errorf("%+v: %v, want ErrAdmin", req, err)
		}
		return err
	}
	add := func(u string) error {
		t.Helper()
		s, err := endpoints.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		return call(endpoints.Request{Op: endpoints.OpAdd, Spec: &s})
	}
	if err := add("tcp://127.0.0.1:0?name=tcp-1"); err != nil {
		t.Fatal(err)
	}
	serial := m.Serial()

	checkOperatorError(t, "adding it again", add("tcp://127.0.0.1:0?name=tcp-1"),
		`endpoint "tcp-1" already exists; retire it first or choose another name`)
	checkOperatorError(t, "adding a command line endpoint's name", add("tcp://127.0.0.1:0?name=flagged"),
		`endpoint "flagged" already exists; retire it first or choose another name`)

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	checkOperatorError(t, "adding one on a port in use", add("tcp://"+busy.Addr().String()+"?name=busy"),
		`endpoint "busy" did not open`, "address already in use")

	checkOperatorError(t, "retiring one that is not there", call(endpoints.Request{Op: endpoints.OpRetire, Name: "tcp-9"}),
		`no endpoint "tcp-9"; give its name, listening address, public address or URL`)
	checkOperatorError(t, "restoring one not retired", call(endpoints.Request{Op: endpoints.OpRestore, Name: "tcp-1"}),
		`endpoint "tcp-1" is not retired; nothing to restore`)
	checkOperatorError(t, "reloading without a config file", call(endpoints.Request{Op: endpoints.OpReload}),
		"no config file to reload; the relay was started without one")

	if err := call(endpoints.Request{Op: endpoints.OpRetire, Name: "flagged"}); err != nil {
		t.Fatal(err)
	}
	checkOperatorError(t, "adding a retired endpoint's name", add("tcp://127.0.0.1:0?name=flagged"),
		`endpoint "flagged" is retired; restore it or choose another name`)
	checkOperatorError(t, "retiring the last", call(endpoints.Request{Op: endpoints.OpRetire, Name: "tcp-1"}),
		"that would leave the relay without an endpoint; add another one first")
	if list := m.List(); len(list) != 1 || list[0].Name != "tcp-1" || m.Serial() <= serial {
		t.Errorf("after the refusals: serial %d (was %d), %+v", m.Serial(), serial, list)
	}
}

// TestStartErrors checks the errors of starting with endpoints that
// clash, and of a relay that is not running.
func TestStartErrors(t *testing.T) {
	r := newRelay(t)
	cfgPath := filepath.Join(r.dir, "endpoints.json")
	if err := os.WriteFile(cfgPath, []byte(`{"endpoints": [{"name": "a", "transport": "tcp", "listen": "127.0.0.1:0"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := endpoints.ParseURL("tcp://127.0.0.1:0?name=a")
	if err != nil {
		t.Fatal(err)
	}
	_, err = endpoints.Start(endpoints.Options{Dir: r.dir, Server: r.srv, Keys: r.keys, Network: "testnet",
		Listen: []endpoints.Spec{s}, ConfigFile: cfgPath, Logger: testLogger()})
	if !errors.Is(err, endpoints.ErrConfig) {
		t.Errorf("start: %v, want ErrConfig", err)
	}
	checkOperatorError(t, "the same name on the command line and in the config file", err,
		`two endpoints are named "a", one on the command line and one in the config file; give one another name`)

	_, err = endpoints.Call(context.Background(), filepath.Join(t.TempDir(), endpoints.SocketFile), endpoints.Request{Op: endpoints.OpList})
	checkOperatorError(t, "no relay running", err, "no relay answers on", "is the relay running, with this data directory?")
}
