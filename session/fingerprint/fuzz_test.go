package fingerprint

import (
	"encoding/hex"
	"testing"
)

func FuzzCompareScannable(f *testing.F) {
	ours, _ := hex.DecodeString("080212220a201e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df1a220a20d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d")
	f.Add([]byte{0x08, 0x02})
	f.Fuzz(func(t *testing.T, theirs []byte) {
		ok, err := CompareScannable(ours, theirs)
		if ok && err != nil {
			t.Fatal("match reported with an error")
		}
		s, perr := parse(theirs)
		if perr == nil && s.hasVersion && s.hasLocal && s.hasRemote {
			re, err := encodeScannable(s.version, s.local, s.remote)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := parse(re)
			if err != nil || s2.version != s.version || string(s2.local) != string(s.local) || string(s2.remote) != string(s.remote) {
				t.Fatal("re-encoding changed the fingerprint")
			}
		}
		// Their fingerprint as ours must never panic either.
		CompareScannable(theirs, ours)
	})
}
