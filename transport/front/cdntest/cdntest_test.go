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
