package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/proto"

	"samizdat/client/clientdb"
	"samizdat/client/group"
	"samizdat/client/internal/contentpb"
	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/provision"
	"samizdat/relay/wire"
	"samizdat/session/curve"
	"samizdat/username"
)

// Linking a device on another machine, as Signal's provisioning does it,
// with a pairing code a person can type instead of a QR code (package
// provision has the cryptography and the reasoning):
//
//  1. The new device (StartLink) connects anonymously with an invite of
//     the network, opens a rendezvous at the relay and shows the code.
//  2. An existing device (ApproveLink), given the code, fetches the hello,
//     checks it against the code, and sends the account's identity key
//     pair and what a device needs, sealed for the new device alone.
//  3. The new device makes its keys (prekeys signed with the identity key
//     it was given) and sends them back; the existing device registers
//     them with the relay (AddDevice, on its own authenticated connection:
//     the relay adds no device an existing one did not ask for), and sends
//     the device id, then its contacts, message requests, groups, channels
//     and the last 30 days of history, in sealed chunks.
//  4. The new device stores everything and acknowledges.

// Linking's bounds.
const (
	// LinkTimeout is how long a new device waits for approval: the life
	// of a rendezvous at the relay.
	LinkTimeout = 5 * time.Minute
	// LinkHistory is how far back the history a new device gets goes.
	LinkHistory = 30 * 24 * time.Hour
	// linkStep bounds each wait for the other device once the pairing
	// started.
	linkStep = 2 * time.Minute
	// linkChunk is the most state one pairing message carries (the
	// relay takes 512 KiB), and linkMaxChunks how many it carries at
	// most (the relay carries 64 messages a pairing).
	linkChunk     = 448 << 10
	linkMaxChunks = 56
	// linkPing keeps a waiting pairing's connection from going idle.
	linkPing = 20 * time.Second
)

// Errors about linking that callers branch on.
var (
	// ErrNoPairing: the relay knows no pairing under the code (expired,
	// used, ended, or mistyped).
	ErrNoPairing = errors.New("client: no such pairing (expired, already used, or mistyped)")
	// ErrPairingTaken: another device took the pairing first.
	ErrPairingTaken = errors.New("client: the pairing was taken by another device")
	// ErrLinkTimeout: no device approved the pairing in time.
	ErrLinkTimeout = errors.New("client: no device approved the pairing in time")
)

// PendingLink is a new device waiting for approval.
type PendingLink struct {
	cfg  Config
	inv  manifest.Invite
	db   *clientdb.DB
	rc   *relayConn
	code provision.Code
	nd   *provision.NewDevice
	made bool // StartLink made the database: a failed pairing removes it
}

// StartLink prepares cfg.Home (new and empty) for a device of an account
// that another device will approve, connects to the relay of the invite
// (any invite of the network) and opens a pairing. Show Code to the user,
// then Wait. Close it if not waiting.
func StartLink(ctx context.Context, cfg Config, inv manifest.Invite) (*PendingLink, error) {
	cfg = cfg.withDefaults()
	if err := CheckDeviceName(cfg.DeviceName); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(dbPath(cfg.Home))
	m, db, err := openInvitedHome(ctx, cfg, inv)
	if err != nil {
		return nil, err
	}
	p := &PendingLink{cfg: cfg, inv: inv, db: db, made: errors.Is(statErr, os.ErrNotExist)}
	ok := false
	defer func() {
		if !ok {
			p.Close()
		}
	}()
	// The pairing's connection is anonymous: the device's own key is made
	// once the identity key arrives.
	anon, err := noisechan.GenerateKeyPair(cfg.Rand)
	if err != nil {
		return nil, err
	}
	nc, err := dial(ctx, cfg, nil, m, anon, inviteWhere(m, anon.Public))
	if err != nil {
		return nil, err
	}
	p.rc = newRelayConn(nc, cfg.Clock, cfg.liveness().Monitor(nil, cfg.Now), nil)
	for try := 0; ; try++ {
		code, err := provision.NewCode(cfg.Rand)
		if err != nil {
			return nil, err
		}
		nd, hello, err := provision.Start(cfg.Rand, code)
		if err != nil {
			return nil, err
		}
		rctx, cancel := cfg.Clock.WithTimeout(ctx, cfg.RequestTimeout)
		_, err = p.rc.call(rctx, "open pairing", &wire.Request{Op: &wire.Request_ProvisionOpen{ProvisionOpen: &wire.ProvisionOpen{
			Rendezvous: code.RendezvousID(), Hello: hello}}})
		cancel()
		var se *StatusError
		if errors.As(err, &se) && se.Status == wire.Status_CONFLICT && try < 4 {
			continue // the id is in use: draw another
		}
		if err != nil {
			return nil, err
		}
		p.code, p.nd = code, nd
		break
	}
	ok = true
	return p, nil
}

// Code is the pairing code to show.
func (p *PendingLink) Code() string { return p.code.String() }

// Close gives up the pairing: the connection ends (and with it the
// rendezvous), and the database StartLink made in the home is removed.
func (p *PendingLink) Close() {
	if p.rc != nil {
		p.rc.Close()
	}
	if p.db != nil {
		p.db.Close()
		p.db = nil
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if p.made {
				os.Remove(dbPath(p.cfg.Home) + suffix)
			}
		}
	}
}

// Wait waits up to timeout (at most, and by default, LinkTimeout) for an
// existing device to approve the pairing, then takes over the account's keys and state and returns the
// new device. Anything that does not authenticate under the code ends the
// pairing with an error (provision.ErrAuth) and leaves the home empty.
func (p *PendingLink) Wait(ctx context.Context, timeout time.Duration) (*Client, error) {
	if timeout <= 0 || timeout > LinkTimeout {
		timeout = LinkTimeout
	}
	c, err := p.wait(ctx, timeout)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.rc.Close()
	return c, nil
}

func (p *PendingLink) wait(ctx context.Context, timeout time.Duration) (*Client, error) {
	cfg := p.cfg
	first, err := awaitPairing(ctx, cfg, p.rc, timeout)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, ErrLinkTimeout
	}
	if err != nil {
		return nil, err
	}
	ch, pt, err := p.nd.Accept(first)
	if err != nil {
		return nil, fmt.Errorf("client: pairing refused: %w", err)
	}
	var offer contentpb.LinkOffer
	if err := proto.Unmarshal(pt, &offer); err != nil {
		return nil, fmt.Errorf("client: pairing: malformed offer")
	}
	identity, acct, err := p.checkOffer(&offer)
	if err != nil {
		return nil, err
	}
	keys, err := newDeviceKeys(ctx, cfg, p.db, &identity)
	if err != nil {
		return nil, err
	}
	if !keys.identity.Public.Equal(identity.Public) {
		// newDeviceKeys kept the keys of an interrupted attempt.
		return nil, errors.New("client: the home holds the keys of an earlier, interrupted attempt for another account; link into a new, empty home")
	}
	st := p.db.Store()
	for k, v := range map[string][]byte{clientdb.MetaAccessKey: offer.AccessKey, metaNetworkKey: offer.NetworkKey, metaManifest: offer.Manifest} {
		if err := st.SetMeta(ctx, k, v); err != nil {
			return nil, err
		}
	}
	name, err := cfg.sealName(identity.Private, cfg.DeviceName)
	if err != nil {
		return nil, err
	}
	up, err := proto.Marshal(keys.upload)
	if err != nil {
		return nil, err
	}
	if err := sendSealed(ctx, cfg, p.rc, p.code, ch, &contentpb.LinkRequest{
		RegistrationId: keys.regID, NoiseStaticKey: keys.noise.Public[:], PreKeys: up, Name: name}); err != nil {
		return nil, err
	}
	var done contentpb.LinkDone
	if err := openNext(ctx, cfg, p.rc, ch, &done); err != nil {
		return nil, err
	}
	if done.DeviceId == 0 || done.Chunks > linkMaxChunks {
		return nil, fmt.Errorf("client: pairing: malformed answer")
	}
	var raw []byte
	for range done.Chunks {
		b, err := awaitPairing(ctx, cfg, p.rc, linkStep)
		if err != nil {
			return nil, err
		}
		chunk, err := ch.Open(b)
		if err != nil {
			return nil, fmt.Errorf("client: pairing refused: %w", err)
		}
		raw = append(raw, chunk...)
	}
	var state contentpb.LinkState
	if err := proto.Unmarshal(raw, &state); err != nil {
		return nil, fmt.Errorf("client: pairing: malformed state")
	}
	if err := p.db.Tx(ctx, func(s *clientdb.Store) error {
		if err := storeSlot(ctx, s, done.Slot); err != nil {
			return err
		}
		if err := s.SetMeta(ctx, clientdb.MetaUsername, []byte(offer.Username)); err != nil {
			return err
		}
		if err := s.SetMetaUint32(ctx, clientdb.MetaDeviceID, done.DeviceId); err != nil {
			return err
		}
		if err := importState(ctx, s, &state, cfg.Now()); err != nil {
			return err
		}
		return s.SetMeta(ctx, clientdb.MetaAccountID, acct[:])
	}); err != nil {
		return nil, err
	}
	if err := sendSealed(ctx, cfg, p.rc, p.code, ch, &contentpb.LinkAck{}); err != nil {
		cfg.Logger.Debug("pairing: acknowledgement not sent", "err", err)
	}
	c, err := load(ctx, cfg, p.db)
	if err != nil {
		return nil, err
	}
	p.db = nil // the client owns it now
	return c, nil
}

// checkOffer checks what the approver sent: a whole identity key pair,
// an account id, a username, an access key, and a manifest of the
// network the invite is for.
func (p *PendingLink) checkOffer(o *contentpb.LinkOffer) (curve.KeyPair, [16]byte, error) {
	var acct [16]byte
	bad := func(what string) (curve.KeyPair, [16]byte, error) {
		return curve.KeyPair{}, acct, fmt.Errorf("client: pairing: the offer's %s is malformed", what)
	}
	priv, err := curve.NewPrivateKey(o.IdentityPrivate)
	if err != nil || !bytes.Equal(priv.PublicKey().Bytes(), o.IdentityPublic) {
		return bad("identity key")
	}
	if len(o.AccountId) != 16 {
		return bad("account")
	}
	copy(acct[:], o.AccountId)
	if _, err := username.Normalize(o.Username); err != nil {
		return bad("username")
	}
	if len(o.AccessKey) != 16 {
		return bad("access key")
	}
	if !bytes.Equal(o.NetworkKey, p.inv.NetworkKey) {
		return curve.KeyPair{}, acct, errors.New("client: pairing: the approving device is of another network than the invite")
	}
	if _, err := manifest.Verify(o.Manifest, o.NetworkKey, p.cfg.Now()); err != nil {
		return bad("manifest")
	}
	return curve.KeyPair{Private: priv, Public: priv.PublicKey()}, acct, nil
}

// ApproveLink links the device showing code to this account: it checks
// the code against the pairing, hands over the identity key, registers the
// new device's keys and sends it this device's state. It returns the new
// device's id once the new device acknowledged.
func (c *Client) ApproveLink(ctx context.Context, code string) (uint32, error) {
	pc, err := provision.ParseCode(code)
	if err != nil {
		return 0, err
	}
	rc, err := c.connection(ctx)
	if err != nil {
		return 0, err
	}
	rctx, cancel := c.cfg.Clock.WithTimeout(ctx, c.cfg.RequestTimeout)
	resp, err := rc.call(rctx, "join pairing", &wire.Request{Op: &wire.Request_ProvisionJoin{ProvisionJoin: &wire.ProvisionJoin{Rendezvous: pc.RendezvousID()}}})
	cancel()
	var se *StatusError
	switch {
	case errors.As(err, &se) && se.Status == wire.Status_NOT_FOUND:
		return 0, ErrNoPairing
	case errors.As(err, &se) && se.Status == wire.Status_CONFLICT:
		return 0, ErrPairingTaken
	case err != nil:
		return 0, err
	}
	ch, err := provision.Approve(c.cfg.Rand, pc, resp.GetProvisionJoined().GetHello())
	if err != nil {
		return 0, err
	}
	identity, err := c.db.Store().IdentityKeyPair(ctx)
	if err != nil {
		return 0, err
	}
	if err := sendSealed(ctx, c.cfg, rc, pc, ch, &contentpb.LinkOffer{
		IdentityPublic: identity.Public.Bytes(), IdentityPrivate: identity.Private.Bytes(),
		AccountId: c.account[:], Username: c.username, AccessKey: c.accessKey,
		NetworkKey: c.networkKey, Manifest: c.currentManifest(),
	}); err != nil {
		return 0, err
	}
	var req contentpb.LinkRequest
	if err := openNext(ctx, c.cfg, rc, ch, &req); err != nil {
		return 0, err
	}
	var up wire.UploadPreKeys
	if err := proto.Unmarshal(req.PreKeys, &up); err != nil {
		return 0, fmt.Errorf("client: pairing: the new device's keys are malformed")
	}
	rctx, cancel = c.cfg.Clock.WithTimeout(ctx, c.cfg.RequestTimeout)
	resp, err = rc.call(rctx, "add device", &wire.Request{Op: &wire.Request_AddDevice{AddDevice: &wire.AddDevice{
		Name:                  req.Name,
		RegistrationId:        req.RegistrationId,
		NoiseStaticKey:        req.NoiseStaticKey,
		SignedPreKey:          up.SignedPreKey,
		LastResortKyberPreKey: up.LastResortKyberPreKey,
		PreKeys:               up.PreKeys,
		KyberPreKeys:          up.KyberPreKeys,
	}}})
	cancel()
	if err != nil {
		return 0, err
	}
	reg := resp.GetRegistered()
	if reg == nil || reg.DeviceId == 0 {
		return 0, errors.New("client: relay answered add device without a device id")
	}
	if err := c.addOwnDevice(ctx, reg.DeviceId); err != nil {
		return reg.DeviceId, err
	}
	state, err := c.linkState(ctx)
	if err != nil {
		return 0, err
	}
	var chunks [][]byte
	for len(state) > 0 {
		n := min(len(state), linkChunk)
		chunks, state = append(chunks, state[:n]), state[n:]
	}
	if err := sendSealed(ctx, c.cfg, rc, pc, ch, &contentpb.LinkDone{DeviceId: reg.DeviceId, Slot: reg.Slot, Chunks: uint32(len(chunks))}); err != nil {
		return reg.DeviceId, err
	}
	for _, chunk := range chunks {
		if err := sendRaw(ctx, c.cfg, rc, pc, ch.Seal(chunk)); err != nil {
			return reg.DeviceId, err
		}
	}
	var ack contentpb.LinkAck
	if err := openNext(ctx, c.cfg, rc, ch, &ack); err != nil {
		return reg.DeviceId, fmt.Errorf("client: device %d was linked but did not confirm it took the state: %w", reg.DeviceId, err)
	}
	return reg.DeviceId, nil
}

// linkState gathers what a new device takes over, serialized: it fits in
// linkMaxChunks chunks, the oldest history left out if need be.
func (c *Client) linkState(ctx context.Context) ([]byte, error) {
	st := c.db.Store()
	var state contentpb.LinkState
	contacts, err := st.Contacts(ctx)
	if err != nil {
		return nil, err
	}
	for _, ct := range contacts {
		state.Contacts = append(state.Contacts, &contentpb.LinkContact{Username: ct.Username, AccountId: ct.AccountID[:], Devices: ct.Devices, AccessKey: ct.AccessKey})
	}
	peers, err := st.PeerRecords(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range peers {
		state.Peers = append(state.Peers, &contentpb.LinkPeer{Peer: p.Peer, AccountId: p.Account, State: int32(p.State)})
	}
	groups, err := st.Groups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		changes, err := st.GroupChanges(ctx, g.ID, 1)
		if err != nil {
			return nil, err
		}
		state.Groups = append(state.Groups, &contentpb.LinkGroup{Id: g.ID[:], Name: g.Name, Member: g.Member, Changes: changes})
	}
	channels, err := st.Channels(ctx)
	if err != nil {
		return nil, err
	}
	for _, ch := range channels {
		state.Channels = append(state.Channels, &contentpb.LinkChannel{Name: ch.Name, Id: ch.ID[:], Code: ch.Code, Admin: ch.Admin,
			LastSeq: ch.LastSeq, Joined: uint64(ch.Joined.UnixMilli())})
	}
	timers, err := st.Timers(ctx)
	if err != nil {
		return nil, err
	}
	for peer, d := range timers {
		state.Timers = append(state.Timers, &contentpb.LinkTimer{Peer: peer, Seconds: uint32(d / time.Second)})
	}
	if err := c.deleteExpired(ctx); err != nil {
		return nil, err
	}
	expiries, err := st.Expiries(ctx)
	if err != nil {
		return nil, err
	}
	msgs, err := st.MessagesSince(ctx, c.cfg.Now().Add(-LinkHistory), 1<<20)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		lm := &contentpb.LinkMessage{EnvelopeId: m.EnvelopeID[:], Peer: m.Peer, Sender: m.Sender,
			Outgoing: m.Outgoing, Body: m.Body, SentAt: uint64(m.SentAt.UnixMilli()), At: uint64(m.At.UnixMilli()), Status: int32(m.Status)}
		if at, ok := expiries[m.ID]; ok {
			lm.ExpiresAt = uint64(at.UnixMilli())
		}
		state.Messages = append(state.Messages, lm)
	}
	for {
		b, err := proto.Marshal(&state)
		if err != nil || len(b) <= linkChunk*linkMaxChunks {
			return b, err
		}
		state.Messages = state.Messages[len(state.Messages)/4+1:] // too much: drop the oldest quarter
	}
}

// importState stores a linked device's state in its new home.
func importState(ctx context.Context, s *clientdb.Store, state *contentpb.LinkState, now time.Time) error {
	bad := func(what string) error { return fmt.Errorf("client: pairing: malformed %s in the state", what) }
	for _, ct := range state.Contacts {
		if len(ct.AccountId) != 16 {
			return bad("contact")
		}
		if err := s.PutContact(ctx, clientdb.Contact{Username: ct.Username, AccountID: [16]byte(ct.AccountId), Devices: ct.Devices,
			AccessKey: ct.AccessKey, Updated: now}); err != nil {
			return err
		}
	}
	for _, p := range state.Peers {
		var acct []byte
		switch len(p.AccountId) {
		case 0:
		case 16:
			acct = p.AccountId
		default:
			return bad("message request")
		}
		if err := s.SetPeerState(ctx, p.Peer, acct, int(p.State), now); err != nil {
			return err
		}
	}
	for _, g := range state.Groups {
		if len(g.Id) != group.IDSize {
			return bad("group")
		}
		id := [32]byte(g.Id)
		if err := s.PutGroup(ctx, clientdb.Group{ID: id, Name: g.Name, Member: g.Member}); err != nil {
			return err
		}
		for _, b := range g.Changes {
			sc, err := group.Parse(b)
			if err != nil || sc.Group != id {
				return bad("group change")
			}
			if err := s.AddGroupChange(ctx, id, sc.Revision, b); err != nil {
				return err
			}
		}
	}
	for _, ch := range state.Channels {
		if len(ch.Id) != 16 {
			return bad("channel")
		}
		if err := s.AddChannel(ctx, clientdb.Channel{Name: ch.Name, ID: [16]byte(ch.Id), Code: ch.Code, Admin: ch.Admin,
			LastSeq: ch.LastSeq, Joined: time.UnixMilli(int64(ch.Joined))}); err != nil {
			return err
		}
	}
	for _, tm := range state.Timers {
		if err := s.SetTimer(ctx, tm.Peer, min(time.Duration(tm.Seconds)*time.Second, MaxTimer)); err != nil {
			return err
		}
	}
	for _, m := range state.Messages {
		if len(m.EnvelopeId) != 16 {
			return bad("message")
		}
		id, err := s.AddMessage(ctx, clientdb.Message{EnvelopeID: [16]byte(m.EnvelopeId), Peer: m.Peer, Sender: m.Sender,
			Outgoing: m.Outgoing, Body: m.Body, SentAt: time.UnixMilli(int64(m.SentAt)), At: time.UnixMilli(int64(m.At)),
			Status: int(m.Status)})
		if err != nil {
			return err
		}
		if m.ExpiresAt != 0 {
			if err := s.ExpireAt(ctx, id, time.UnixMilli(int64(m.ExpiresAt))); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendSealed seals msg on the pairing's channel and sends it to the other
// device.
func sendSealed(ctx context.Context, cfg Config, rc *relayConn, code provision.Code, ch *provision.Channel, msg proto.Message) error {
	b, err := proto.Marshal(msg)
	if err != nil {
		return err
	}
	return sendRaw(ctx, cfg, rc, code, ch.Seal(b))
}

func sendRaw(ctx context.Context, cfg Config, rc *relayConn, code provision.Code, blob []byte) error {
	rctx, cancel := cfg.Clock.WithTimeout(ctx, cfg.RequestTimeout)
	defer cancel()
	_, err := rc.call(rctx, "pairing", &wire.Request{Op: &wire.Request_ProvisionSend{ProvisionSend: &wire.ProvisionSend{
		Rendezvous: code.RendezvousID(), Blob: blob}}})
	var se *StatusError
	if errors.As(err, &se) && se.Status == wire.Status_NOT_FOUND {
		return fmt.Errorf("client: the pairing ended: %w", err)
	}
	return err
}

// openNext waits for the other device's next message and opens it into
// msg.
func openNext(ctx context.Context, cfg Config, rc *relayConn, ch *provision.Channel, msg proto.Message) error {
	b, err := awaitPairing(ctx, cfg, rc, linkStep)
	if err != nil {
		return err
	}
	pt, err := ch.Open(b)
	if err != nil {
		return fmt.Errorf("client: pairing refused: %w", err)
	}
	if err := proto.Unmarshal(pt, msg); err != nil {
		return fmt.Errorf("client: pairing: a malformed message")
	}
	return nil
}

// awaitPairing waits up to d for the next pairing message on rc, pinging
// meanwhile so that the relay does not close the connection as idle.
func awaitPairing(ctx context.Context, cfg Config, rc *relayConn, d time.Duration) ([]byte, error) {
	ctx, cancel := cfg.Clock.WithTimeout(ctx, d)
	defer cancel()
	t := cfg.Clock.NewTicker(linkPing)
	defer t.Stop()
	for {
		select {
		case m := <-rc.provision:
			return m.GetBlob(), nil
		case <-rc.done:
			return nil, rc.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C():
			pctx, stop := cfg.Clock.WithTimeout(ctx, cfg.RequestTimeout)
			rc.call(pctx, "ping", &wire.Request{Op: &wire.Request_Ping{Ping: &wire.Ping{}}})
			stop()
		}
	}
}
