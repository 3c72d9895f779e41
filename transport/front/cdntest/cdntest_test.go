package cdntest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestRouting(t *testing.T) {
	for _, buffer := range []bool{false, true} {
		t.Run(fmt.Sprint("buffer=", buffer), func(t *testing.T) {
			// The origin sends its first bytes, then holds the rest back
			// until the client has read them. A CDN that buffers cannot
			// pass them on before the rest: the origin gives up holding
			// after a moment; had it streamed, the client would have read
			// them by then. Without Buffer the client must read them
			// while the origin holds (it gives up only after a minute).
			hold := time.Minute
			if buffer {
				hold = 300 * time.Millisecond
			}
			read := make(chan struct{})
			var ended atomic.Bool
			origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				fmt.Fprintf(w, "host=%s;", r.Host)
				http.NewResponseController(w).Flush()
				if r.Host == "hidden.example" {
					select {
					case <-read:
					case <-time.After(hold):
					}
				}
				ended.Store(true)
				fmt.Fprint(w, "end")
			})}
			ol, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go origin.Serve(ol)
			defer origin.Close()
			cdn, err := Start("127.0.0.1:0", Config{Buffer: buffer})
			if err != nil {
				t.Fatal(err)
			}
			defer cdn.Close()
			cdn.Route("hidden.example", "http://"+ol.Addr().String())
			tr := &http.Transport{DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return tls.Dial("tcp", cdn.Addr(), &tls.Config{ServerName: "front.example", InsecureSkipVerify: true})
			}}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}

			req, _ := http.NewRequest("GET", "https://hidden.example/x", nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			first := make([]byte, len("host=hidden.example;"))
			if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "host=hidden.example;" {
				t.Fatalf("%q %v", first, err)
			}
			if streamed := !ended.Load(); streamed == buffer {
				t.Errorf("buffer=%v, but the first bytes came %s the origin ended its response", buffer, map[bool]string{true: "before", false: "after"}[streamed])
			}
			close(read)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()

			req, _ = http.NewRequest("GET", "https://unknown.example/", nil)
			resp, err = hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("unknown host: %d", resp.StatusCode)
			}
			reqs := cdn.Requests()
			if len(reqs) != 2 || reqs[0].SNI != "front.example" || reqs[0].Host != "hidden.example" || reqs[0].Status != 200 {
				t.Fatalf("log %+v", reqs)
			}
		})
	}
}

// TestFrontingEnds checks a CDN that ends domain fronting: the fronted
// stream in flight is cut, a new fronted request is refused, and a
// request whose Host is its TLS name is still served.
func TestFrontingEnds(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		fmt.Fprintf(w, "host=%s;", r.Host)
		http.NewResponseController(w).Flush()
		if r.URL.Path == "/stream" {
			select { // a long stream: ends only when the test does
			case <-release:
			case <-r.Context().Done():
			}
		}
	})}
	ol, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go origin.Serve(ol)
	defer origin.Close()
	cdn, err := Start("127.0.0.1:0", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cdn.Close()
	cdn.Route("hidden.example", "http://"+ol.Addr().String())
	client := func(sni string) *http.Client {
		tr := &http.Transport{DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return tls.Dial("tcp", cdn.Addr(), &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		}}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	fronted, direct := client("front.example"), client("hidden.example")
	get := func(hc *http.Client, path string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "https://hidden.example"+path, nil)
		return hc.Do(req)
	}

	if !cdn.Fronting() {
		t.Fatal("a new CDN does not front")
	}
	stream, err := get(fronted, "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	first := make([]byte, len("host=hidden.example;"))
	if _, err := io.ReadFull(stream.Body, first); err != nil {
		t.Fatalf("fronted stream before the change: %q %v", first, err)
	}

	cdn.SetFronting(false)
	if cdn.Fronting() {
		t.Fatal("Fronting() after SetFronting(false)")
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream.Body)
		ended <- err
	}()
	select {
	case err := <-ended:
		if err == nil {
			t.Error("the fronted stream ended cleanly; want it cut")
		}
	case <-time.After(time.Minute):
		t.Fatal("the fronted stream in flight was not cut when fronting ended")
	}

	resp, err := get(fronted, "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != StatusNotCovered {
		t.Errorf("fronted request after the change: status %d, want %d", resp.StatusCode, StatusNotCovered)
	}
	resp, err = get(direct, "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "host=hidden.example;" {
		t.Errorf("request under its own name after the change: %d %q, want 200 and the origin's answer", resp.StatusCode, body)
	}
	var refused, served int
	for _, r := range cdn.Requests() {
		switch {
		case r.SNI == "front.example" && r.Status == StatusNotCovered:
			refused++
		case r.SNI == "hidden.example" && r.Status == 200:
			served++
		}
	}
	if refused != 1 || served != 1 {
		t.Errorf("log: %d fronted refused and %d direct served, want 1 and 1: %+v", refused, served, cdn.Requests())
	}

	if served, refused := cdn.Fronted(); served != 1 || refused != 1 {
		t.Errorf("Fronted() = %d served, %d refused; want the stream served and one request refused", served, refused)
	}

	cdn.SetFronting(true)
	resp, err = get(fronted, "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("fronted request with fronting back on: status %d", resp.StatusCode)
	}
}
