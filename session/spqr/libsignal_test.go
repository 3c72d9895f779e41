package spqr

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	wire "samizdat/session/internal/pb"
	pb "samizdat/session/spqr/internal/spqrpb"
)

// The tests in this file check package spqr against libsignal 0.103 (the
// Rust spqr crate inside @signalapp/libsignal-client): testdata/libsignal
// holds an exchange between two libsignal parties recorded by gen.mjs.
//
// libsignal's SPQR state uses the crate's protobuf, whose field numbers our
// spqrpb shares, so its chain, authenticator and core fields decode into our
// messages (its erasure coder fields arrive as opaque bytes).

// lsEvent is a send (From set) or a receipt (Recv is the index of the send).
type lsEvent struct {
	From    string `json:"from"`
	Type    int    `json:"type"`
	Body    []byte `json:"body"`
	Recv    *int   `json:"recv"`
	PQState []byte `json:"pq_state"`
}

type lsExchange struct {
	AliceInitial []byte    `json:"alice_initial_pq_state"`
	Events       []lsEvent `json:"events"`
}

// receiver names the party receiving event i.
func (x *lsExchange) receiver(i int) string {
	if x.Events[*x.Events[i].Recv].From == "A" {
		return "B"
	}
	return "A"
}

func loadExchange(t *testing.T) *lsExchange {
	t.Helper()
	f, err := os.Open("testdata/libsignal/exchange.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var x lsExchange
	if err := json.NewDecoder(z).Decode(&x); err != nil {
		t.Fatal(err)
	}
	return &x
}

// pqMsg extracts the pq_ratchet field of a recorded ciphertext.
func (s *lsEvent) pqMsg(t *testing.T) []byte {
	t.Helper()
	body := s.Body
	if s.Type == 3 { // PreKeySignalMessage: version byte, protobuf
		var pk wire.PreKeySignalMessage
		if err := proto.Unmarshal(body[1:], &pk); err != nil {
			t.Fatal(err)
		}
		body = pk.GetMessage()
	}
	var sm wire.SignalMessage // version byte, protobuf, 8-byte MAC
	if err := proto.Unmarshal(body[1:len(body)-8], &sm); err != nil {
		t.Fatal(err)
	}
	return sm.GetPqRatchet()
}

func crateState(t *testing.T, b []byte) *pb.State {
	t.Helper()
	var st pb.State
	if err := proto.Unmarshal(b, &st); err != nil {
		t.Fatalf("libsignal state does not decode: %v", err)
	}
	return &st
}

// coreOf returns the kind and core message of a V1 state.
func coreOf(st *pb.State) (v1Kind, proto.Message) {
	switch s := st.GetV1().GetState().(type) {
	case *pb.V1State_KeysUnsampled_:
		return kindKeysUnsampled, s.KeysUnsampled.GetCore()
	case *pb.V1State_KeysSampled_:
		return kindKeysSampled, s.KeysSampled.GetCore()
	case *pb.V1State_HeaderSent_:
		return kindHeaderSent, s.HeaderSent.GetCore()
	case *pb.V1State_Ct1Received_:
		return kindCt1Received, s.Ct1Received.GetCore()
	case *pb.V1State_EkSentCt1Received_:
		return kindEkSentCt1Received, s.EkSentCt1Received.GetCore()
	case *pb.V1State_NoHeaderReceived_:
		return kindNoHeaderReceived, s.NoHeaderReceived.GetCore()
	case *pb.V1State_HeaderReceived_:
		return kindHeaderReceived, s.HeaderReceived.GetCore()
	case *pb.V1State_Ct1Sampled_:
		return kindCt1Sampled, s.Ct1Sampled.GetCore()
	case *pb.V1State_EkReceivedCt1Sampled_:
		return kindEkReceivedCt1, s.EkReceivedCt1Sampled.GetCore()
	case *pb.V1State_Ct1Acknowledged_:
		return kindCt1Acknowledged, s.Ct1Acknowledged.GetCore()
	case *pb.V1State_Ct2Sampled_:
		return kindCt2Sampled, s.Ct2Sampled.GetCore()
	}
	return 0, nil
}

func libsignalParams(authKey []byte, dir Direction) Params {
	return Params{AuthKey: authKey, Version: V1, MinVersion: V1, Direction: dir,
		Chain: ChainParams{MaxJump: 25_000, MaxOOOKeys: 2_000}}
}

// TestLibsignalInitialState: our initial A2B state is byte-identical to
// libsignal's (it holds no erasure coder yet), which checks the negotiation
// record, the chain parameters and the authenticator's initial keys.
func TestLibsignalInitialState(t *testing.T) {
	x := loadExchange(t)
	authKey := crateState(t, x.AliceInitial).GetNegotiation().GetAuthKey()
	if len(authKey) != 32 {
		t.Fatalf("auth key length %d", len(authKey))
	}
	got, err := InitialState(libsignalParams(authKey, A2B))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, x.AliceInitial) {
		t.Fatalf("initial state differs:\n got %x\nwant %x", got, x.AliceInitial)
	}
}

// TestLibsignalMessages: every recorded SPQR message parses and
// re-serializes to the same bytes, and its index is the sender's chain
// counter.
func TestLibsignalMessages(t *testing.T) {
	x := loadExchange(t)
	sends := 0
	for i, s := range x.Events {
		if s.Recv != nil {
			continue
		}
		sends++
		raw := s.pqMsg(t)
		m, err := parseMessage(raw)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !bytes.Equal(m.marshal(), raw) {
			t.Fatalf("event %d: re-serialized message differs", i)
		}
		c := crateState(t, s.PQState).GetChain()
		if c == nil || len(c.Links) == 0 {
			t.Fatalf("event %d: sender has no chain", i)
		}
		if ctr := c.Links[len(c.Links)-1].GetSend().GetCtr(); c.GetSendEpoch() == m.epoch-1 &&
			c.GetCurrentEpoch() == m.epoch-1 && ctr != m.index {
			t.Fatalf("event %d: index %d, sender ctr %d", i, m.index, ctr)
		}
	}
	if sends < 100 {
		t.Fatalf("only %d messages recorded", sends)
	}
}

// replay follows one party with our code from state st (taken after step
// `from`, or before all steps when from is -1) and compares, after every
// step, the SPQR message it sends and its chain, authenticator, state kind
// and core values with libsignal's. Our party's randomness is libsignal's:
// the ML-KEM message m read from libsignal's encapsulation state (its last
// 32 bytes). Replay stops where the party would generate a new key pair,
// whose seed libsignal does not keep. It returns the number of steps
// checked.
func replay(t *testing.T, x *lsExchange, who string, st []byte, from int) int {
	t.Helper()
	checked := 0
	for i := from + 1; i < len(x.Events); i++ {
		e := &x.Events[i]
		switch {
		case e.Recv == nil && e.From == who:
			raw := e.pqMsg(t)
			if k, _ := coreOf(crateState(t, st)); k == kindKeysUnsampled {
				return checked
			}
			// Randomness for Encaps1, if this send encapsulates.
			var m []byte
			if k, core := coreOf(crateState(t, e.PQState)); k == kindCt1Sampled {
				es := core.(*pb.V1State_Core_Ct1Sent).GetEs()
				m = es[len(es)-32:]
			}
			ns, msg, _, err := Send(st, bytes.NewReader(m))
			if err != nil {
				t.Fatalf("event %d (%s sends): %v", i, who, err)
			}
			if !bytes.Equal(msg, raw) {
				t.Fatalf("event %d (%s sends): message differs:\n got %x\nwant %x", i, who, msg, raw)
			}
			st = ns
		case e.Recv != nil && x.receiver(i) == who:
			if k, _ := coreOf(crateState(t, st)); k == kindEkSentCt1Received {
				if k2, _ := coreOf(crateState(t, e.PQState)); k2 == kindNoHeaderReceived {
					// Decapsulation needs the decapsulation key, which
					// libsignal stores in its own format.
					return checked
				}
			}
			ns, _, err := Recv(st, x.Events[*e.Recv].pqMsg(t))
			if err != nil {
				t.Fatalf("event %d (%s receives): %v", i, who, err)
			}
			st = ns
		default:
			continue
		}
		compareStates(t, fmt.Sprintf("event %d (%s)", i, who), crateState(t, st), crateState(t, e.PQState))
		checked++
	}
	return checked
}

func compareStates(t *testing.T, where string, got, want *pb.State) {
	t.Helper()
	if !proto.Equal(got.GetChain(), want.GetChain()) {
		t.Fatalf("%s: chain differs:\n got %v\nwant %v", where, got.GetChain(), want.GetChain())
	}
	if !proto.Equal(got.GetNegotiation(), want.GetNegotiation()) {
		t.Fatalf("%s: negotiation differs", where)
	}
	gk, gc := coreOf(got)
	wk, wc := coreOf(want)
	if gk != wk {
		t.Fatalf("%s: state %d, libsignal %d", where, gk, wk)
	}
	// Compare the core fields both implementations store alike: epoch,
	// authenticator, header, ek, ct1. (dk and the encapsulation state are
	// kept in different local formats.)
	strip := func(m proto.Message) proto.Message {
		m = proto.Clone(m)
		r := m.ProtoReflect()
		for _, name := range []string{"dk", "es"} {
			if fd := r.Descriptor().Fields().ByName(protoName(name)); fd != nil {
				r.Clear(fd)
			}
		}
		return m
	}
	if !proto.Equal(strip(gc), strip(wc)) {
		t.Fatalf("%s: core state differs:\n got %v\nwant %v", where, strip(gc), strip(wc))
	}
}

// TestLibsignalReplay replays, for every epoch, the party that
// encapsulates in it (B in odd epochs, A in even ones) against libsignal.
// This checks byte for byte the message format, erasure chunks of ct1 and
// ct2, the ML-KEM ciphertexts, the SCKA key derivation, the authenticator
// updates and ciphertext MAC, the header MAC check, and the chain (start,
// epoch addition, message keys) in both directions.
func TestLibsignalReplay(t *testing.T) {
	x := loadExchange(t)
	authKey := crateState(t, x.AliceInitial).GetNegotiation().GetAuthKey()
	bob, err := InitialState(libsignalParams(authKey, B2A))
	if err != nil {
		t.Fatal(err)
	}
	n := replay(t, x, "B", bob, -1)
	if n < 10 {
		t.Fatalf("only %d steps replayed for epoch 1", n)
	}
	epochs := 1
	// Later epochs start when the send_ek party has received all of ct2:
	// it then holds a fresh header decoder, which we can rebuild.
	seen := map[uint64]bool{}
	for i := range x.Events {
		e := &x.Events[i]
		if e.Recv == nil {
			continue
		}
		who := x.receiver(i)
		st := crateState(t, e.PQState)
		k, core := coreOf(st)
		if k != kindNoHeaderReceived {
			continue
		}
		c := core.(*pb.V1State_Core_NoHeaderReceived)
		if c.GetEpoch() < 2 || seen[c.GetEpoch()] {
			continue
		}
		seen[c.GetEpoch()] = true
		a, err := authFromPB(c.GetAuth())
		if err != nil {
			t.Fatal(err)
		}
		dec, err := newDecoder(hdrMsgSize)
		if err != nil {
			t.Fatal(err)
		}
		v1 := &v1State{kind: kindNoHeaderReceived, epoch: c.GetEpoch(), auth: a, dec: dec}
		inner, err := v1.toPB()
		if err != nil {
			t.Fatal(err)
		}
		ours, err := encodeState(&pb.State{Chain: st.GetChain(), Inner: &pb.State_V1{V1: inner}})
		if err != nil {
			t.Fatal(err)
		}
		if n := replay(t, x, who, ours, i); n < 10 {
			t.Fatalf("epoch %d: only %d steps replayed", c.GetEpoch(), n)
		}
		epochs++
	}
	if epochs < 3 {
		t.Fatalf("only %d epochs in the recording", epochs)
	}
	t.Logf("replayed %d epochs", epochs)
}

func protoName(s string) protoreflect.Name { return protoreflect.Name(s) }

// TestLibsignalReplaySendEK replays the other half of each epoch: the party
// that generated the ML-KEM keys, from its first header chunk up to the
// decapsulation. The header and its MAC come from its first three chunks.
func TestLibsignalReplaySendEK(t *testing.T) {
	x := loadExchange(t)
	seen := map[uint64]bool{}
	for i := range x.Events {
		e := &x.Events[i]
		if e.Recv != nil {
			continue
		}
		st := crateState(t, e.PQState)
		k, core := coreOf(st)
		if k != kindKeysSampled {
			continue
		}
		c := core.(*pb.V1State_Core_HeaderSent)
		epoch := c.GetEpoch()
		if seen[epoch] {
			continue
		}
		seen[epoch] = true

		// Header and MAC from the systematic chunks 0..2 of this epoch.
		hdr := make([]byte, hdrMsgSize)
		got := 0
		for j := i; j < len(x.Events) && got < 3; j++ {
			f := &x.Events[j]
			if f.Recv != nil || f.From != e.From {
				continue
			}
			m, err := parseMessage(f.pqMsg(t))
			if err != nil {
				t.Fatal(err)
			}
			if m.epoch == epoch && m.typ == msgHdr && m.chunkIndex < 3 {
				copy(hdr[32*int(m.chunkIndex):], m.chunkData[:])
				got++
			}
		}
		if got < 3 {
			t.Fatalf("epoch %d: header chunks missing", epoch)
		}
		a, err := authFromPB(c.GetAuth())
		if err != nil {
			t.Fatal(err)
		}
		if err := a.verifyHdr(epoch, hdr[:64], hdr[64:]); err != nil {
			t.Fatalf("epoch %d: header MAC: %v", epoch, err)
		}
		enc, err := newEncoder(hdr)
		if err != nil {
			t.Fatal(err)
		}
		enc.NextChunk() // the chunk sent in event i
		v1 := &v1State{kind: kindKeysSampled, epoch: epoch, auth: a, ek: c.GetEk(),
			dk: make([]byte, 64), enc: enc}
		inner, err := v1.toPB()
		if err != nil {
			t.Fatal(err)
		}
		ours, err := encodeState(&pb.State{Negotiation: st.GetNegotiation(), Chain: st.GetChain(),
			Inner: &pb.State_V1{V1: inner}})
		if err != nil {
			t.Fatal(err)
		}
		if n := replay(t, x, e.From, ours, i); n < 10 {
			t.Fatalf("epoch %d: only %d steps replayed", epoch, n)
		}
	}
	if len(seen) < 3 {
		t.Fatalf("only %d epochs in the recording", len(seen))
	}
	t.Logf("replayed %d epochs", len(seen))
}

// TestLibsignalStatesDecodeSafely: libsignal's own state bytes are not our
// format (its erasure coders differ); feeding them to Send and Recv must
// fail cleanly with ErrStateDecode or work, never panic.
func TestLibsignalStatesDecodeSafely(t *testing.T) {
	x := loadExchange(t)
	for i, e := range x.Events {
		if _, _, _, err := Send(e.PQState, bytes.NewReader(make([]byte, 64))); err != nil && !errors.Is(err, ErrStateDecode) {
			t.Fatalf("event %d: Send: %v", i, err)
		}
		if _, _, err := Recv(e.PQState, []byte{1, 1, 0, 0}); err != nil && !errors.Is(err, ErrStateDecode) &&
			!errors.Is(err, ErrKeyAlreadyRequested) && !errors.Is(err, ErrKeyTrimmed) {
			t.Fatalf("event %d: Recv: %v", i, err)
		}
	}
}
