package spqr

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"samizdat/session/spqr/internal/erasure"
	"samizdat/session/spqr/internal/incmlkem"
	pb "samizdat/session/spqr/internal/spqrpb"
)

// decodeState parses a serialized state; empty input is the V0 state.
func decodeState(b []byte) (*pb.State, error) {
	st := new(pb.State)
	if len(b) == 0 {
		return st, nil
	}
	if err := proto.Unmarshal(b, st); err != nil {
		return nil, ErrStateDecode
	}
	return st, nil
}

func encodeState(st *pb.State) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStateDecode, err)
	}
	return b, nil
}

// ---- authenticator ----

func (a *authenticator) toPB() *pb.Authenticator {
	return &pb.Authenticator{RootKey: a.rootKey, MacKey: a.macKey}
}

func authFromPB(p *pb.Authenticator) (authenticator, error) {
	if p == nil || len(p.RootKey) != 32 || len(p.MacKey) != 32 {
		return authenticator{}, fmt.Errorf("%w: authenticator", ErrStateDecode)
	}
	return authenticator{rootKey: p.RootKey, macKey: p.MacKey}, nil
}

// ---- chain ----

func (c *chain) toPB() *pb.Chain {
	out := &pb.Chain{
		Direction:    pb.Direction(c.dir),
		CurrentEpoch: c.currentEpoch,
		SendEpoch:    c.sendEpoch,
		NextRoot:     c.nextRoot,
		Params:       &pb.ChainParams{MaxJump: c.params.MaxJump, MaxOooKeys: c.params.MaxOOOKeys},
	}
	for _, l := range c.links {
		out.Links = append(out.Links, &pb.Chain_Epoch{
			Send: &pb.Chain_Epoch_Direction{Ctr: l.send.ctr, Next: l.send.next, Prev: l.send.prev.data},
			Recv: &pb.Chain_Epoch_Direction{Ctr: l.recv.ctr, Next: l.recv.next, Prev: l.recv.prev.data},
		})
	}
	return out
}

func chainDirFromPB(p *pb.Chain_Epoch_Direction) (chainDir, error) {
	if p == nil || (len(p.Next) != 0 && len(p.Next) != 32) || len(p.Prev)%historyEntrySize != 0 {
		return chainDir{}, fmt.Errorf("%w: chain link", ErrStateDecode)
	}
	return chainDir{ctr: p.Ctr, next: p.Next, prev: keyHistory{data: p.Prev}}, nil
}

func chainFromPB(p *pb.Chain) (*chain, error) {
	if p.Params == nil || p.Direction > pb.Direction_DIRECTION_B2A || len(p.NextRoot) != 32 ||
		len(p.Links) == 0 || uint64(len(p.Links)-1) > p.CurrentEpoch {
		return nil, fmt.Errorf("%w: chain", ErrStateDecode)
	}
	c := &chain{
		dir:          Direction(p.Direction),
		currentEpoch: p.CurrentEpoch,
		sendEpoch:    p.SendEpoch,
		nextRoot:     p.NextRoot,
		params:       ChainParams{MaxJump: p.Params.MaxJump, MaxOOOKeys: p.Params.MaxOooKeys},
	}
	for _, l := range p.Links {
		if l == nil {
			return nil, fmt.Errorf("%w: chain", ErrStateDecode)
		}
		s, err := chainDirFromPB(l.Send)
		if err != nil {
			return nil, err
		}
		r, err := chainDirFromPB(l.Recv)
		if err != nil {
			return nil, err
		}
		c.links = append(c.links, chainEpoch{send: s, recv: r})
	}
	return c, nil
}

// chainFrom returns the persisted chain, or a new one from the negotiation
// parameters when none has been created yet.
func chainFrom(st *pb.State) (*chain, error) {
	if st.Chain != nil {
		return chainFromPB(st.Chain)
	}
	vn := st.Negotiation
	if vn == nil || vn.ChainParams == nil {
		return nil, ErrChainNotAvailable
	}
	if vn.Direction > pb.Direction_DIRECTION_B2A {
		return nil, fmt.Errorf("%w: direction", ErrStateDecode)
	}
	p := ChainParams{MaxJump: vn.ChainParams.MaxJump, MaxOOOKeys: vn.ChainParams.MaxOooKeys}
	return newChain(vn.AuthKey, Direction(vn.Direction), p), nil
}

// ---- V1 states ----

func marshalEnc(e *erasure.Encoder) ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("%w: missing encoder", ErrStateDecode)
	}
	return e.MarshalBinary()
}

func marshalDec(d *erasure.Decoder) ([]byte, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: missing decoder", ErrStateDecode)
	}
	return d.MarshalBinary()
}

func unmarshalEnc(b []byte) (*erasure.Encoder, error) {
	e := new(erasure.Encoder)
	if err := e.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: encoder", ErrStateDecode)
	}
	return e, nil
}

func unmarshalDec(b []byte) (*erasure.Decoder, error) {
	d := new(erasure.Decoder)
	if err := d.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: decoder", ErrStateDecode)
	}
	return d, nil
}

func (s *v1State) toPB() (*pb.V1State, error) {
	auth := s.auth.toPB()
	var enc, dec []byte
	var err error
	switch s.kind {
	case kindKeysSampled, kindHeaderSent, kindCt1Received, kindCt1Sampled, kindEkReceivedCt1, kindCt2Sampled:
		if enc, err = marshalEnc(s.enc); err != nil {
			return nil, err
		}
	}
	switch s.kind {
	case kindHeaderSent, kindEkSentCt1Received, kindNoHeaderReceived, kindHeaderReceived, kindCt1Sampled, kindCt1Acknowledged:
		if dec, err = marshalDec(s.dec); err != nil {
			return nil, err
		}
	}
	out := new(pb.V1State)
	switch s.kind {
	case kindKeysUnsampled:
		out.State = &pb.V1State_KeysUnsampled_{KeysUnsampled: &pb.V1State_KeysUnsampled{
			Core: &pb.V1State_Core_KeysUnsampled{Epoch: s.epoch, Auth: auth}}}
	case kindKeysSampled:
		out.State = &pb.V1State_KeysSampled_{KeysSampled: &pb.V1State_KeysSampled{
			Core:       &pb.V1State_Core_HeaderSent{Epoch: s.epoch, Auth: auth, Ek: s.ek, Dk: s.dk},
			SendingHdr: enc}}
	case kindHeaderSent:
		out.State = &pb.V1State_HeaderSent_{HeaderSent: &pb.V1State_HeaderSent{
			Core:         &pb.V1State_Core_EkSent{Epoch: s.epoch, Auth: auth, Dk: s.dk},
			SendingEk:    enc,
			ReceivingCt1: dec}}
	case kindCt1Received:
		out.State = &pb.V1State_Ct1Received_{Ct1Received: &pb.V1State_Ct1Received{
			Core:      &pb.V1State_Core_EkSentCt1Received{Epoch: s.epoch, Auth: auth, Dk: s.dk, Ct1: s.ct1},
			SendingEk: enc}}
	case kindEkSentCt1Received:
		out.State = &pb.V1State_EkSentCt1Received_{EkSentCt1Received: &pb.V1State_EkSentCt1Received{
			Core:         &pb.V1State_Core_EkSentCt1Received{Epoch: s.epoch, Auth: auth, Dk: s.dk, Ct1: s.ct1},
			ReceivingCt2: dec}}
	case kindNoHeaderReceived:
		out.State = &pb.V1State_NoHeaderReceived_{NoHeaderReceived: &pb.V1State_NoHeaderReceived{
			Core:         &pb.V1State_Core_NoHeaderReceived{Epoch: s.epoch, Auth: auth},
			ReceivingHdr: dec}}
	case kindHeaderReceived:
		out.State = &pb.V1State_HeaderReceived_{HeaderReceived: &pb.V1State_HeaderReceived{
			Core:        &pb.V1State_Core_HeaderReceived{Epoch: s.epoch, Auth: auth, Hdr: s.hdr},
			ReceivingEk: dec}}
	case kindCt1Sampled:
		out.State = &pb.V1State_Ct1Sampled_{Ct1Sampled: &pb.V1State_Ct1Sampled{
			Core:        &pb.V1State_Core_Ct1Sent{Epoch: s.epoch, Auth: auth, Hdr: s.hdr, Es: s.es, Ct1: s.ct1},
			SendingCt1:  enc,
			ReceivingEk: dec}}
	case kindEkReceivedCt1:
		out.State = &pb.V1State_EkReceivedCt1Sampled_{EkReceivedCt1Sampled: &pb.V1State_EkReceivedCt1Sampled{
			Core:       &pb.V1State_Core_Ct1SentEkReceived{Epoch: s.epoch, Auth: auth, Es: s.es, Ek: s.ek, Ct1: s.ct1},
			SendingCt1: enc}}
	case kindCt1Acknowledged:
		out.State = &pb.V1State_Ct1Acknowledged_{Ct1Acknowledged: &pb.V1State_Ct1Acknowledged{
			Core:        &pb.V1State_Core_Ct1Sent{Epoch: s.epoch, Auth: auth, Hdr: s.hdr, Es: s.es, Ct1: s.ct1},
			ReceivingEk: dec}}
	case kindCt2Sampled:
		out.State = &pb.V1State_Ct2Sampled_{Ct2Sampled: &pb.V1State_Ct2Sampled{
			Core:       &pb.V1State_Core_Ct2Sent{Epoch: s.epoch, Auth: auth},
			SendingCt2: enc}}
	default:
		return nil, fmt.Errorf("%w: unknown state %d", ErrStateDecode, s.kind)
	}
	return out, nil
}

// coreFields is the common part of every persisted core state.
type coreFields interface {
	GetEpoch() uint64
	GetAuth() *pb.Authenticator
}

func (s *v1State) setCore(c coreFields) error {
	// Getters of a nil core return zero values, caught here.
	if c.GetEpoch() == 0 || c.GetEpoch() == ^uint64(0) {
		return fmt.Errorf("%w: epoch", ErrStateDecode)
	}
	a, err := authFromPB(c.GetAuth())
	if err != nil {
		return err
	}
	s.epoch, s.auth = c.GetEpoch(), a
	return nil
}

// checkLen validates the length of a persisted key or ciphertext.
func checkLen(name string, b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("%w: %s length %d", ErrStateDecode, name, len(b))
	}
	return nil
}

func checkNonEmpty(name string, b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: missing %s", ErrStateDecode, name)
	}
	return nil
}

func v1FromPB(p *pb.V1State) (*v1State, error) {
	s := new(v1State)
	var err error
	try := func(fs ...func() error) error {
		for _, f := range fs {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	}
	enc := func(b []byte) func() error {
		return func() (err error) { s.enc, err = unmarshalEnc(b); return }
	}
	dec := func(b []byte) func() error {
		return func() (err error) { s.dec, err = unmarshalDec(b); return }
	}
	core := func(c coreFields) func() error { return func() error { return s.setCore(c) } }
	ln := func(name string, b []byte, n int) func() error { return func() error { return checkLen(name, b, n) } }
	ne := func(name string, b []byte) func() error { return func() error { return checkNonEmpty(name, b) } }

	switch st := p.GetState().(type) {
	case *pb.V1State_KeysUnsampled_:
		v := st.KeysUnsampled
		s.kind = kindKeysUnsampled
		err = try(core(v.GetCore()))
	case *pb.V1State_KeysSampled_:
		v := st.KeysSampled
		s.kind = kindKeysSampled
		c := v.GetCore()
		s.ek, s.dk = c.GetEk(), c.GetDk()
		err = try(core(c), ln("ek", s.ek, incmlkem.EncapsulationKeySize), ne("dk", s.dk), enc(v.GetSendingHdr()))
	case *pb.V1State_HeaderSent_:
		v := st.HeaderSent
		s.kind = kindHeaderSent
		c := v.GetCore()
		s.dk = c.GetDk()
		err = try(core(c), ne("dk", s.dk), enc(v.GetSendingEk()), dec(v.GetReceivingCt1()))
	case *pb.V1State_Ct1Received_:
		v := st.Ct1Received
		s.kind = kindCt1Received
		c := v.GetCore()
		s.dk, s.ct1 = c.GetDk(), c.GetCt1()
		err = try(core(c), ne("dk", s.dk), ln("ct1", s.ct1, incmlkem.Ciphertext1Size), enc(v.GetSendingEk()))
	case *pb.V1State_EkSentCt1Received_:
		v := st.EkSentCt1Received
		s.kind = kindEkSentCt1Received
		c := v.GetCore()
		s.dk, s.ct1 = c.GetDk(), c.GetCt1()
		err = try(core(c), ne("dk", s.dk), ln("ct1", s.ct1, incmlkem.Ciphertext1Size), dec(v.GetReceivingCt2()))
	case *pb.V1State_NoHeaderReceived_:
		v := st.NoHeaderReceived
		s.kind = kindNoHeaderReceived
		err = try(core(v.GetCore()), dec(v.GetReceivingHdr()))
	case *pb.V1State_HeaderReceived_:
		v := st.HeaderReceived
		s.kind = kindHeaderReceived
		c := v.GetCore()
		s.hdr = c.GetHdr()
		err = try(core(c), ln("hdr", s.hdr, incmlkem.HeaderSize), dec(v.GetReceivingEk()))
	case *pb.V1State_Ct1Sampled_:
		v := st.Ct1Sampled
		s.kind = kindCt1Sampled
		c := v.GetCore()
		s.hdr, s.es, s.ct1 = c.GetHdr(), c.GetEs(), c.GetCt1()
		err = try(core(c), ln("hdr", s.hdr, incmlkem.HeaderSize), ne("es", s.es),
			ln("ct1", s.ct1, incmlkem.Ciphertext1Size), enc(v.GetSendingCt1()), dec(v.GetReceivingEk()))
	case *pb.V1State_EkReceivedCt1Sampled_:
		v := st.EkReceivedCt1Sampled
		s.kind = kindEkReceivedCt1
		c := v.GetCore()
		s.es, s.ek, s.ct1 = c.GetEs(), c.GetEk(), c.GetCt1()
		err = try(core(c), ne("es", s.es), ln("ek", s.ek, incmlkem.EncapsulationKeySize),
			ln("ct1", s.ct1, incmlkem.Ciphertext1Size), enc(v.GetSendingCt1()))
	case *pb.V1State_Ct1Acknowledged_:
		v := st.Ct1Acknowledged
		s.kind = kindCt1Acknowledged
		c := v.GetCore()
		s.hdr, s.es, s.ct1 = c.GetHdr(), c.GetEs(), c.GetCt1()
		err = try(core(c), ln("hdr", s.hdr, incmlkem.HeaderSize), ne("es", s.es),
			ln("ct1", s.ct1, incmlkem.Ciphertext1Size), dec(v.GetReceivingEk()))
	case *pb.V1State_Ct2Sampled_:
		v := st.Ct2Sampled
		s.kind = kindCt2Sampled
		err = try(core(v.GetCore()), enc(v.GetSendingCt2()))
	default:
		return nil, fmt.Errorf("%w: missing v1 state", ErrStateDecode)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func newInner(v *pb.V1State) *pb.State_V1 { return &pb.State_V1{V1: v} }
