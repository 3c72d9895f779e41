package client

import (
	"context"

	"google.golang.org/protobuf/proto"

	"samizdat/client/internal/contentpb"
	"samizdat/manifest"
	"samizdat/provision"
	"samizdat/session/senderkey"
)

// KeeperOf exposes c's manifest keeper to the package's external tests.
func KeeperOf(c *Client) *manifest.Keeper { return c.keeper }

// ClaimUsername makes c claim name as its username in what it sends, as a
// modified client could.
func ClaimUsername(c *Client, name string) { c.username = name }

// HandManifest queues blob for the contact to as a manifest handed on,
// whatever it holds and whatever to holds, as a modified client could.
func HandManifest(c *Client, to string, blob []byte) error {
	return c.enqueue(context.Background(), c.db.Store(), to, &contentpb.Content{
		Body: &contentpb.Content_ManifestOffer{ManifestOffer: &contentpb.ManifestOffer{Blob: blob}}})
}

// NoiseKey returns c's device Noise public key, which decides its cohort.
func NoiseKey(c *Client) []byte { return c.noise.Public[:] }

// Slot is c's cohort slot.
func Slot(c *Client) manifest.Slot { return c.at.slot }

// HeldManifests lists the manifests c remembers having held, newest first.
func HeldManifests(c *Client) [][]byte {
	b, _ := c.db.Store().HeldManifests(context.Background())
	return b
}

// ConnAddr returns the remote address of c's relay connection (the one
// Receive keeps up and requests go through), or "" when it has none.
func ConnAddr(c *Client) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil || c.conn.Err() != nil {
		return ""
	}
	return c.conn.nc.RemoteAddr().String()
}

// GroupCiphertext encrypts text to the group with c's Sender Key (made if
// c has none), as a group text goes out, and returns the Sender Key
// message.
func GroupCiphertext(c *Client, id [32]byte, text string) ([]byte, error) {
	ctx := context.Background()
	if _, err := groupKey(c, id); err != nil {
		return nil, err
	}
	enc, err := c.stampContent(&contentpb.Content{Body: &contentpb.Content_GroupText{GroupText: &contentpb.GroupText{GroupId: id[:], Body: text}}}, c.cfg.Now())
	if err != nil {
		return nil, err
	}
	return c.groupEncrypt(ctx, id, pad(enc))
}

// groupKey returns c's Sender Key distribution message for the group,
// making the chain if c has none.
func groupKey(c *Client, id [32]byte) ([]byte, error) {
	dm, err := senderkey.Create(context.Background(), c.db.Store(), c.localAddr(), distributionID(id), c.cfg.Rand)
	if err != nil {
		return nil, err
	}
	return dm.Bytes(), nil
}

// SendGroupKey queues c's Sender Key for the group for the user to, 1:1,
// whether or not c is a member, as a modified client could.
func SendGroupKey(c *Client, to string, id [32]byte) error {
	dm, err := groupKey(c, id)
	if err != nil {
		return err
	}
	return c.enqueue(context.Background(), c.db.Store(), to, &contentpb.Content{
		Body: &contentpb.Content_GroupKey{GroupKey: &contentpb.GroupKey{GroupId: id[:], Distribution: dm}}})
}

// SendGroupCiphertext queues a Sender Key message for the user to, 1:1, as
// a modified client or a replaying relay could.
func SendGroupCiphertext(c *Client, to string, skm []byte) error {
	return c.enqueue(context.Background(), c.db.Store(), to, &contentpb.Content{
		Body: &contentpb.Content_GroupCiphertext{GroupCiphertext: &contentpb.GroupCiphertext{Message: skm}}})
}

// SendGroupChanges queues signed group changes for the user to, whatever
// they are, as a modified client could.
func SendGroupChanges(c *Client, to string, changes ...[]byte) error {
	return c.enqueue(context.Background(), c.db.Store(), to, &contentpb.Content{
		Body: &contentpb.Content_GroupUpdate{GroupUpdate: &contentpb.GroupUpdate{Changes: changes}}})
}

// PendingDownloads returns how many received files wait to be downloaded.
func PendingDownloads(c *Client) int {
	d, _ := c.db.Store().Downloads(context.Background())
	return len(d)
}

// CorruptDownloadDigests flips a bit of the digest of every file waiting
// to be downloaded, as a sender that lied about its file would.
func CorruptDownloadDigests(c *Client) error {
	ctx := context.Background()
	ds, err := c.db.Store().Downloads(ctx)
	if err != nil {
		return err
	}
	for _, d := range ds {
		var p contentpb.AttachmentPointer
		if err := proto.Unmarshal(d.Pointer, &p); err != nil {
			return err
		}
		p.Digest[0] ^= 1
		if d.Pointer, err = proto.Marshal(&p); err != nil {
			return err
		}
		if err := c.db.Store().DeleteDownload(ctx, d.EnvelopeID); err != nil {
			return err
		}
		if err := c.db.Store().AddDownload(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// InviteOf is an invite of c's network: the manifest c holds.
func InviteOf(c *Client) manifest.Invite {
	return manifest.Invite{NetworkKey: c.networkKey, Manifest: c.currentManifest()}
}

// SendPairing sends blob into the pairing of code on c's connection, as a
// device that does not hold the code's secret could.
func SendPairing(c *Client, code string, blob []byte) error {
	pc, err := provision.ParseCode(code)
	if err != nil {
		return err
	}
	rc, err := c.connection(context.Background())
	if err != nil {
		return err
	}
	return sendRaw(context.Background(), c.cfg, rc, pc, blob)
}
