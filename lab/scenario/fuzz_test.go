package scenario

import (
	"encoding/json"
	"reflect"
	"testing"

	"samizdat/censor"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; what it
// accepts must be valid (a censor config that censor.New accepts, clients
// spread over the ISPs) and must survive a marshal/parse round trip
// unchanged. Seeds: the built-ins (added here) and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, name := range Names() {
		b, err := builtins.ReadFile("builtin/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned a scenario with error %v", err)
			}
			return
		}
		cfg, err := s.CensorConfig(s.Seed, nil, nil)
		if err != nil {
			t.Fatalf("accepted scenario has no censor config: %v", err)
		}
		if _, err := censor.New(cfg); err != nil {
			t.Fatalf("accepted scenario's censor config rejected: %v", err)
		}
		if isps := s.ClientISPs(s.Clients); len(isps) != s.Clients {
			t.Fatalf("ClientISPs(%d) gave %d", s.Clients, len(isps))
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if !reflect.DeepEqual(s, back) {
			t.Fatalf("round trip differs:\n%+v\n%+v", s, back)
		}
	})
}
