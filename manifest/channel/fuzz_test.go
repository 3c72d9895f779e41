package channel_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"samizdat/manifest"
	"samizdat/manifest/channel"
)

const fuzzName = "m.example.net"

// txtResponse builds a DNS response carrying recs at fuzzName.
func txtResponse(tb testing.TB, recs [][]string) []byte {
	var q dns.Msg
	q.SetQuestion(dns.Fqdn(fuzzName), dns.TypeTXT)
	var r dns.Msg
	r.SetReply(&q)
	for _, strs := range recs {
		r.Answer = append(r.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: dns.Fqdn(fuzzName), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: strs})
	}
	b, err := r.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func seedResponse(tb testing.TB) []byte {
	recs, err := channel.SplitTXT(sign(tb, serial(2), big(6000)))
	if err != nil {
		tb.Fatal(err)
	}
	return txtResponse(tb, recs)
}

// FuzzParseTXTResponse feeds arbitrary DoH responses to the parser and the
// reassembly: no panic, typed errors, bounded output.
func FuzzParseTXTResponse(f *testing.F) {
	f.Add(seedResponse(f))
	f.Fuzz(func(t *testing.T, msg []byte) {
		recs, err := channel.ParseTXTResponse(msg, fuzzName)
		if err != nil {
			if !errors.Is(err, channel.ErrBadResponse) && !errors.Is(err, channel.ErrNotFound) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		blob, err := channel.JoinTXT(recs)
		if err != nil {
			if !errors.Is(err, channel.ErrBadResponse) && !errors.Is(err, channel.ErrNotFound) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if len(blob) == 0 || len(blob) > manifest.MaxBlobSize {
			t.Fatalf("blob of %d bytes", len(blob))
		}
	})
}

// FuzzJoinTXT checks that any blob survives SplitTXT, shuffling and
// JoinTXT, and that arbitrary records (one per line, strings separated by
// '|') never panic and fail with typed errors.
func FuzzJoinTXT(f *testing.F) {
	f.Add([]byte("1/2:AAAA\n2/2:BBBB"), uint8(1))
	f.Add([]byte("AAAA|BBBB"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, rot uint8) {
		if recs, err := channel.SplitTXT(data); err == nil && len(data) > 0 {
			r := int(rot) % len(recs)
			recs = append(recs[r:], recs[:r]...)
			got, err := channel.JoinTXT(recs)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("round trip of %d bytes: %v", len(data), err)
			}
		}
		var recs [][]string
		for _, line := range strings.Split(string(data), "\n") {
			recs = append(recs, strings.Split(line, "|"))
		}
		if _, err := channel.JoinTXT(recs); err != nil && !errors.Is(err, channel.ErrBadResponse) && !errors.Is(err, channel.ErrNotFound) {
			t.Fatalf("untyped error: %v", err)
		}
	})
}

// FuzzImport feeds arbitrary text to Import: no panic, typed errors, and
// what it returns is bounded; an accepted blob imports again from its
// base64.
func FuzzImport(f *testing.F) {
	blob := sign(f, serial(2))
	inv, _ := manifest.MarshalInvite(manifest.Invite{NetworkKey: netPub, Manifest: blob})
	f.Add(inv)
	f.Add(blob)
	f.Add([]byte("CAES"))
	f.Fuzz(func(t *testing.T, text []byte) {
		got, err := channel.Import(text)
		if err != nil {
			if !errors.Is(err, channel.ErrBadImport) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if len(got) == 0 || len(got) > manifest.MaxBlobSize {
			t.Fatalf("blob of %d bytes", len(got))
		}
	})
}

// TestWriteSeeds regenerates the seed corpora in testdata/fuzz when
// SAMIZDAT_WRITE_SEEDS=1.
func TestWriteSeeds(t *testing.T) {
	if os.Getenv("SAMIZDAT_WRITE_SEEDS") != "1" {
		t.Skip("set SAMIZDAT_WRITE_SEEDS=1 to regenerate testdata/fuzz")
	}
	resp := seedResponse(t)
	blob := sign(t, serial(2))
	inv, _ := manifest.MarshalInvite(manifest.Invite{NetworkKey: netPub, Manifest: blob})
	nx := func() []byte {
		var q dns.Msg
		q.SetQuestion(dns.Fqdn(fuzzName), dns.TypeTXT)
		var r dns.Msg
		r.SetRcode(&q, dns.RcodeNameError)
		b, _ := r.Pack()
		return b
	}()
	write(t, "FuzzParseTXTResponse", "[]byte(%s)\n", [][]byte{resp, resp[:len(resp)/2], nx, txtResponse(t, [][]string{{"1/2:AA"}, {"2/2:AA"}, {"v=spf1"}})})
	write(t, "FuzzImport", "[]byte(%s)\n", [][]byte{inv, blob, []byte("  CAES\nAAAA  "), []byte("-----BEGIN SAMIZDAT INVITE-----\nCAE=\n-----END SAMIZDAT INVITE-----\n")})
	dir := filepath.Join("testdata", "fuzz", "FuzzJoinTXT")
	os.MkdirAll(dir, 0o755)
	for i, s := range []struct {
		data string
		rot  uint8
	}{{"1/2:AAAA\n2/2:BBBB", 1}, {"AAAA|BBBB", 0}, {"1/3:QUJD|REVG\n3/3:R0hJ\n2/3:SktM", 2}} {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nbyte(%s)\n", strconv.Quote(s.data), strconv.QuoteRune(rune(s.rot)))
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644)
	}
}

func write(t *testing.T, name, format string, list [][]byte) {
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range list {
		data := "go test fuzz v1\n" + fmt.Sprintf(format, strconv.Quote(string(b)))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
