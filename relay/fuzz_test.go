package relay_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"samizdat/noisechan"
	"samizdat/relay/wire"
	"samizdat/transport/tcp"
)

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzRequestFrame")

// seedRequests are valid and nearly valid requests of every kind.
func seedRequests() []*wire.Request {
	acct := make([]byte, 16)
	return []*wire.Request{
		ping(),
		startDelivery(),
		fetch(acct, 0),
		ack(make([]byte, 16), []byte{1}),
		{Op: &wire.Request_Lookup{Lookup: &wire.LookupUsername{Username: "target"}}},
		{Op: &wire.Request_SenderCertificate{SenderCertificate: &wire.GetSenderCertificate{}}},
		{Op: &wire.Request_PreKeyCount{PreKeyCount: &wire.PreKeyCountRequest{}}},
		{Op: &wire.Request_Send{Send: &wire.SendMessages{Recipient: acct, EnvelopeId: acct, Messages: []*wire.OutgoingMessage{{DeviceId: 1, RegistrationId: 1234, Type: 2, Content: []byte("x")}}}}},
		{Op: &wire.Request_SendSealed{SendSealed: &wire.SendSealed{Recipient: acct, UnidentifiedAccessKey: acct, EnvelopeId: acct, Messages: []*wire.OutgoingMessage{{DeviceId: 1, Type: 6, Content: []byte("x")}}}}},
		{Op: &wire.Request_UploadPreKeys{UploadPreKeys: &wire.UploadPreKeys{PreKeys: []*wire.OneTimePreKey{{Id: 1, PublicKey: append([]byte{5}, acct...)}}}}},
		{Op: &wire.Request_Register{Register: &wire.Register{Username: "someone", IdentityKey: []byte{5}, RegistrationId: 1}}},
		{Op: &wire.Request_AddDevice{AddDevice: &wire.AddDevice{RegistrationId: 1, NoiseStaticKey: make([]byte, 32)}}},
		{Op: &wire.Request_SendMulti{SendMulti: &wire.SendMultiRecipient{Message: append(append([]byte{0x22, 1}, acct...), append([]byte{1, 0, 1}, make([]byte, 48+32+16)...)...), AccessKey: acct, EnvelopeId: acct}}},
		listDevices(),
		removeDevice(2),
		uploadStartReq(100<<10, 32<<10),
		chunkReq(acct, 0, make([]byte, 32<<10)),
		downloadReq(acct, 0),
		resumeReq(acct),
		provOpen("abcd", "hello"),
		provJoin("abcd"),
		provSend("abcd", "blob"),
	}
}

// FuzzRequestFrame sends one arbitrary frame on an authenticated
// connection. Whatever it is, the relay answers it or closes that
// connection with a reason, and other users carry on.
func FuzzRequestFrame(f *testing.F) {
	for _, req := range seedRequests() {
		req.Id = 7
		b, err := wire.Marshal(&wire.Frame{Body: &wire.Frame_Request{Request: req}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte{})
	if *updateSeeds {
		writeSeeds(f)
	}

	e := newEnv(f, nil)
	target := e.register("target", 1)
	fuzzer := e.register("fuzzer", 1)
	const pingID = 1 << 62
	f.Fuzz(func(t *testing.T, frame []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		raw, err := tcp.Dialer{}.Dial(ctx, e.addr)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := noisechan.Client(ctx, raw, fuzzer.devices[1].noise, e.relayKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if err := nc.WriteFrame(frame); err != nil {
			if len(frame) > noisechan.MaxFrame {
				return
			}
			t.Fatal(err)
		}
		// Follow with a ping (it fails if the relay hung up already), then
		// read until the pong or the end of the connection.
		_ = wire.WriteFrame(nc, &wire.Frame{Body: &wire.Frame_Request{Request: &wire.Request{Id: pingID, Op: &wire.Request_Ping{Ping: &wire.Ping{}}}}})
		nc.SetReadDeadline(time.Now().Add(patience))
		for {
			b, err := nc.ReadFrame()
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("the relay neither answered nor closed the connection")
				}
				break
			}
			fr, err := wire.Unmarshal(b)
			if err != nil {
				t.Fatalf("the relay sent an invalid frame: %v", err)
			}
			if r := fr.GetResponse(); r != nil && r.Id == pingID {
				break
			}
		}
		// Other users carry on.
		select {
		case r := <-target.dev1().start(ping()):
			if r.GetPong() == nil {
				t.Fatalf("ping: %v", r)
			}
		case <-time.After(patience):
			t.Fatal("another user's connection stopped working")
		}
	})
}

func writeSeeds(f *testing.F) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRequestFrame")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	for i, req := range seedRequests() {
		req.Id = 7
		b, err := wire.Marshal(&wire.Frame{Body: &wire.Frame_Request{Request: req}})
		if err != nil {
			f.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			f.Fatal(err)
		}
	}
}
