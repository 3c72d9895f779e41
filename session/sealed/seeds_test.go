package sealed

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// TestWriteSeeds regenerates testdata/fuzz seeds when run with -update-seeds.
func TestWriteSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to regenerate")
	}
	f := newFixture(t)
	us := fuzzKey(t)
	c := f.content(t, TypeSenderKey, []byte("seed"), HintResendable, []byte{42})
	v1, err := EncryptV1(rand.Reader, c, f.alice, us.Public)
	if err != nil {
		t.Fatal(err)
	}
	bobID, _ := ParseServiceID("796abedb-ca4e-4f18-8803-1fde5b921f9f")
	pniID, _ := ParseServiceID("PNI:796abedb-ca4e-4f18-8803-1fde5b921f9f")
	sent, err := EncryptV2(rand.Reader, []Destination{
		{ServiceID: bobID, DeviceID: 1, RegistrationID: 5, IdentityKey: us.Public},
		{ServiceID: bobID, DeviceID: 2, RegistrationID: 6, IdentityKey: us.Public},
	}, []ServiceID{pniID}, c, f.alice)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ParseSentMessage(sent)
	recv := m.ReceivedMessage(&m.Recipients[0])
	signer, _ := f.cert.Signer()
	write := func(target, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("FuzzParseServerCertificate", "valid", signer.Bytes())
	write("FuzzParseSenderCertificate", "valid", f.cert.Bytes())
	write("FuzzParseSenderCertificate", "libsignal_known_id", senderCertFrom(t,
		unhex(t, "100119697a000000000000222105d75b13e15c7700079dd226f51e5a790ba395e819e88a74d0cf5cedfad8b4334840d786df9a07322461616161616161612d373030302d313165622d623332612d333362386138613438376136"),
		unhex(t, "e62667bce627caed56ca2ab309b6ae7bc890a30a7482c0e1fd77ec9c3b7528abfd45c8c42b240509a71d973ef5e0f1dbd2685fe01410f0fdbaa8fb247a67e08f")).Bytes())
	write("FuzzParseContent", "valid", c.Bytes())
	write("FuzzDecrypt", "v1", v1)
	write("FuzzDecrypt", "v2", recv)
	write("FuzzParseSentMessage", "valid", sent)
}
