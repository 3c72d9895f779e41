package endpoints_test

import (
	"encoding/json"
	"testing"

	"samizdat/relay/endpoints"
)

// The admin socket and the config file hand these parsers bytes from
// outside the relay process; they must never panic, and what they accept
// must be consistent.
func FuzzParseURL(f *testing.F) {
	f.Add("tcp://127.0.0.1:7001")
	f.Add("wss://127.0.0.1:7443/chat?sni=example.org&name=w&cohort=3")
	f.Add("front://127.0.0.1:7080?address=198.51.100.1:443&sni=a&host=b&tls_pin=" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	f.Add("127.0.0.1:1")
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := endpoints.ParseURL(s)
		if err != nil {
			return
		}
		if sp.Name == "" {
			t.Fatal("accepted spec without a name")
		}
		if err := sp.Normalize(); err != nil {
			t.Fatalf("accepted spec fails Normalize: %v", err)
		}
	})
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(`{"network": "n", "manifest_ttl": "48h", "endpoints": [{"transport": "tcp", "listen": "127.0.0.1:0"}]}`))
	f.Add([]byte(`{"endpoints": [{"name": "w", "transport": "wss", "listen": "127.0.0.1:0", "sni": "a.example", "secret": "000102030405060708090a0b0c0d0e0f"}], "channels": [{"kind": "https", "url": "https://m.example/x"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := endpoints.ParseFile(b)
		if err != nil {
			return
		}
		if _, err := file.TTL(); err != nil {
			t.Fatalf("accepted file with a bad ttl: %v", err)
		}
		// Re-encoding and parsing again gives the same endpoints.
		out, err := json.Marshal(file)
		if err != nil {
			t.Fatal(err)
		}
		again, err := endpoints.ParseFile(out)
		if err != nil {
			t.Fatalf("re-encoded file refused: %v", err)
		}
		if len(again.Endpoints) != len(file.Endpoints) {
			t.Fatal("endpoints changed on re-encoding")
		}
		for i := range again.Endpoints {
			if again.Endpoints[i] != file.Endpoints[i] {
				t.Fatalf("endpoint %d changed: %+v != %+v", i, again.Endpoints[i], file.Endpoints[i])
			}
		}
	})
}
