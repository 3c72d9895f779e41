package bridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/bridge/internal/bridgepb"
	"samizdat/manifest"
	"samizdat/transport"
	"samizdat/transport/wss"
)

// The control tunnel: the user's home tells a bridge it runs elsewhere
// (see Abroad) what changed, over a wss tunnel on a path and with a secret
// of their own, both derived from the bridge key (so to everyone else the
// control path is one more path that gets the decoy). One tunnel carries
// one Update and its Ack, each a 4-byte big-endian length and a protobuf
// (bridgepb).

// ErrBadUpdate is wrapped by every reason an update is refused.
var ErrBadUpdate = errors.New("bridge: bad update")

// updateVersion is the version of Update on the wire.
const updateVersion = 1

// Sizes of the control messages on the wire.
const (
	MaxUpdateSize = manifest.MaxBlobSize + MaxDenied*(LabelSize+16) + 4096
	maxAckSize    = 4096
)

// Update is what the home tells its bridge: the newest manifest it holds
// (nil: none; the bridge takes it only if it is newer than its own and
// verifies), its cohort under it, and its whole deny list.
type Update struct {
	Manifest []byte
	Cohort   uint32
	Denied   []Denial
}

// Ack is the bridge's answer to an Update.
type Ack struct {
	Serial  uint64 // the serial of the manifest the bridge uses now
	Denied  int    // labels on its deny list
	Refused string // why it did not take the update's manifest ("" if it did, or had it)
}

// MarshalUpdate encodes u as it travels.
func MarshalUpdate(u Update) ([]byte, error) {
	if len(u.Denied) > MaxDenied {
		return nil, fmt.Errorf("%w: %d denials (max %d)", ErrBadUpdate, len(u.Denied), MaxDenied)
	}
	pb := &bridgepb.Update{Version: updateVersion, Manifest: u.Manifest, Cohort: u.Cohort}
	for _, d := range u.Denied {
		pb.Denied = append(pb.Denied, &bridgepb.Denial{Label: bytes.Clone(d.Label[:]), Until: d.Until.Unix()})
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(pb)
}

// ParseUpdate decodes an update, or says why it is refused. It checks the
// shape only: the manifest is the keeper's to verify.
func ParseUpdate(b []byte) (Update, error) {
	if len(b) > MaxUpdateSize {
		return Update{}, fmt.Errorf("%w: %d bytes (max %d)", ErrBadUpdate, len(b), MaxUpdateSize)
	}
	var pb bridgepb.Update
	if err := proto.Unmarshal(b, &pb); err != nil {
		return Update{}, fmt.Errorf("%w: %w", ErrBadUpdate, err)
	}
	switch {
	case pb.Version != updateVersion:
		return Update{}, fmt.Errorf("%w: version %d, want %d", ErrBadUpdate, pb.Version, updateVersion)
	case len(pb.Manifest) > manifest.MaxBlobSize:
		return Update{}, fmt.Errorf("%w: a manifest of %d bytes", ErrBadUpdate, len(pb.Manifest))
	case len(pb.Denied) > MaxDenied:
		return Update{}, fmt.Errorf("%w: %d denials (max %d)", ErrBadUpdate, len(pb.Denied), MaxDenied)
	case pb.Cohort > manifest.MaxCohorts:
		return Update{}, fmt.Errorf("%w: cohort %d", ErrBadUpdate, pb.Cohort)
	}
	u := Update{Manifest: nonEmpty(pb.Manifest), Cohort: pb.Cohort}
	for _, d := range pb.Denied {
		if len(d.Label) != LabelSize || d.Until <= 0 {
			return Update{}, fmt.Errorf("%w: a denial of a %d-byte label until %d", ErrBadUpdate, len(d.Label), d.Until)
		}
		var l Label
		copy(l[:], d.Label)
		u.Denied = append(u.Denied, Denial{Label: l, Until: time.Unix(d.Until, 0)})
	}
	return u, nil
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func marshalAck(a Ack) []byte {
	b, _ := proto.Marshal(&bridgepb.Ack{Serial: a.Serial, Denied: uint32(a.Denied), Refused: truncate(a.Refused, 512)})
	return b
}

func parseAck(b []byte) (Ack, error) {
	var pb bridgepb.Ack
	if err := proto.Unmarshal(b, &pb); err != nil {
		return Ack{}, fmt.Errorf("bridge: bad answer from the bridge: %w", err)
	}
	return Ack{Serial: pb.Serial, Denied: int(pb.Denied), Refused: truncate(pb.Refused, 512)}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Push sends u to the bridge whose offers iss mints, at address, over its
// control tunnel, and returns the bridge's answer.
func Push(ctx context.Context, iss Issuer, address string, netDial transport.NetDial, u Update) (Ack, error) {
	if len(iss.Key) != KeySize {
		return Ack{}, fmt.Errorf("bridge: an issuer needs a %d-byte key", KeySize)
	}
	b, err := MarshalUpdate(u)
	if err != nil {
		return Ack{}, err
	}
	k := newKeys(iss.Key)
	c, err := wss.Dial(ctx, wss.ClientConfig{Address: address, SNI: iss.SNI, Path: k.control, Secret: k.controlSecret(),
		TLSPin: iss.Pin, NetDial: netDial})
	if err != nil {
		return Ack{}, fmt.Errorf("bridge: the bridge at %s: %w", address, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if err := writeFrame(c, b); err != nil {
		return Ack{}, fmt.Errorf("bridge: the bridge at %s: %w", address, err)
	}
	ab, err := readFrame(c, maxAckSize)
	if err != nil {
		return Ack{}, fmt.Errorf("bridge: the bridge at %s did not answer: %w", address, err)
	}
	return parseAck(ab)
}

// controlTimeout bounds one control tunnel on the bridge.
const controlTimeout = 30 * time.Second

// control serves one control tunnel: one update, one answer.
func (s *Server) control(c net.Conn) {
	defer c.Close()
	c.SetDeadline(s.cfg.Clock.Now().Add(controlTimeout))
	b, err := readFrame(c, MaxUpdateSize)
	if err != nil {
		s.log.Info("bridge: the control tunnel ended early", "err", err)
		return
	}
	u, err := ParseUpdate(b)
	if err != nil {
		s.log.Info("bridge: an update was refused", "err", err)
		return
	}
	writeFrame(c, marshalAck(s.cfg.Control(u)))
}

func writeFrame(w io.Writer, b []byte) error {
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err := w.Write(buf)
	return err
}

func readFrame(r io.Reader, limit int) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if uint64(size) > uint64(limit) {
		return nil, fmt.Errorf("a message of %d bytes (max %d)", size, limit)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}
