package spqr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"samizdat/session/internal/kdf"
)

// Default chain parameters, as in the spqr crate.
const (
	DefaultMaxJump    = 25_000
	DefaultMaxOOOKeys = 2_000
)

// ChainParams bounds the per-epoch message key chains.
type ChainParams struct {
	// MaxJump is how far ahead of the last received index a message may
	// be. Zero means DefaultMaxJump.
	MaxJump uint32
	// MaxOOOKeys is how many skipped keys behind the newest index are
	// kept for out-of-order messages. Zero means DefaultMaxOOOKeys.
	MaxOOOKeys uint32
}

func (p ChainParams) maxJump() uint64 {
	if p.MaxJump == 0 {
		return DefaultMaxJump
	}
	return uint64(p.MaxJump)
}

func (p ChainParams) maxOOO() uint64 {
	if p.MaxOOOKeys == 0 {
		return DefaultMaxOOOKeys
	}
	return uint64(p.MaxOOOKeys)
}

// trimSize is the number of stored keys at which the key history is
// garbage-collected.
func (p ChainParams) trimSize() uint64 { return p.maxOOO()*11/10 + 1 }

// canonical maps default values to zero, as the crate persists them.
func (p ChainParams) canonical() ChainParams {
	if p.MaxJump == DefaultMaxJump {
		p.MaxJump = 0
	}
	if p.MaxOOOKeys == DefaultMaxOOOKeys {
		p.MaxOOOKeys = 0
	}
	return p
}

// historyEntrySize is one stored key: 4-byte big-endian index, 32-byte key.
const historyEntrySize = 4 + 32

// keyHistory holds skipped receive keys, unordered.
type keyHistory struct{ data []byte }

func (h *keyHistory) add(idx uint32, key []byte) {
	h.data = binary.BigEndian.AppendUint32(h.data, idx)
	h.data = append(h.data, key...)
}

// remove drops the entry at byte offset i by moving the last entry there.
func (h *keyHistory) remove(i int) {
	last := len(h.data) - historyEntrySize
	if i < last {
		copy(h.data[i:i+historyEntrySize], h.data[last:])
	}
	h.data = h.data[:last]
}

// gc drops keys older than current-maxOOO once the history is large.
func (h *keyHistory) gc(current uint32, p ChainParams) {
	if uint64(len(h.data)) < p.trimSize()*historyEntrySize {
		return
	}
	if uint64(current) < p.maxOOO() {
		return // cannot happen for a consistent history
	}
	horizon := uint32(uint64(current) - p.maxOOO())
	for i := 0; i < len(h.data); {
		if binary.BigEndian.Uint32(h.data[i:]) < horizon {
			h.remove(i) // the moved-in entry is examined next
		} else {
			i += historyEntrySize
		}
	}
}

func (h *keyHistory) get(at, current uint32, p ChainParams) ([]byte, error) {
	if uint64(at)+p.maxOOO() < uint64(current) {
		return nil, fmt.Errorf("%w: index %d", ErrKeyTrimmed, at)
	}
	for i := 0; i+historyEntrySize <= len(h.data); i += historyEntrySize {
		if binary.BigEndian.Uint32(h.data[i:]) == at {
			key := bytes.Clone(h.data[i+4 : i+historyEntrySize])
			h.remove(i)
			return key, nil
		}
	}
	return nil, fmt.Errorf("%w: index %d", ErrKeyAlreadyRequested, at)
}

// chainDir is one direction (send or receive) of one epoch's chain.
type chainDir struct {
	ctr  uint32
	next []byte // 32 bytes, or empty once the chain is retired
	prev keyHistory
}

// chainNextKey advances a chain: with ctr' = ctr+1,
// HKDF(0^32, next, BE32(ctr') || "...Chain Next", 64) = next' || key.
func chainNextKey(next []byte, ctr uint32) (newNext []byte, newCtr uint32, key []byte) {
	newCtr = ctr + 1
	info := binary.BigEndian.AppendUint32(nil, newCtr)
	info = append(info, chainNextLabel...)
	out := kdf.HKDF(next, zeroSalt[:], string(info), 64)
	return out[:32:32], newCtr, out[32:]
}

func (d *chainDir) nextKey() (uint32, []byte, error) {
	if len(d.next) != 32 || d.ctr == math.MaxUint32 {
		return 0, nil, fmt.Errorf("%w: chain exhausted", ErrStateDecode)
	}
	var key []byte
	d.next, d.ctr, key = chainNextKey(d.next, d.ctr)
	return d.ctr, key, nil
}

// key returns the receive key for index at, keeping skipped keys.
func (d *chainDir) key(at uint32, p ChainParams) ([]byte, error) {
	switch {
	case at > d.ctr:
		if uint64(at-d.ctr) > p.maxJump() {
			return nil, fmt.Errorf("%w: from %d to %d", ErrKeyJump, d.ctr, at)
		}
	case at < d.ctr:
		return d.prev.get(at, d.ctr, p)
	default:
		return nil, fmt.Errorf("%w: index %d", ErrKeyAlreadyRequested, at)
	}
	if uint64(at) > uint64(d.ctr)+p.maxOOO() {
		d.prev.data = d.prev.data[:0] // every held key becomes obsolete
	}
	for at > d.ctr+1 {
		idx, k, err := d.nextKey()
		if err != nil {
			return nil, err
		}
		if uint64(idx)+p.maxOOO() >= uint64(at) {
			d.prev.add(idx, k)
		}
	}
	d.prev.gc(d.ctr, p)
	_, k, err := d.nextKey()
	return k, err
}

type chainEpoch struct{ send, recv chainDir }

// chain derives per-message keys from the epoch secrets.
type chain struct {
	dir          Direction
	currentEpoch uint64
	sendEpoch    uint64
	links        []chainEpoch // epochs currentEpoch-len(links)+1 .. currentEpoch
	nextRoot     []byte
	params       ChainParams // canonical form
}

// epochsKeptBeforeSend is how many epochs are kept before the send epoch.
const epochsKeptBeforeSend = 1

// splitEpochKeys turns the 96-byte KDF output into (root, send, recv) for
// our direction: bytes 32..64 key the A2B chain, 64..96 the B2A chain.
func splitEpochKeys(g []byte, dir Direction) (root []byte, e chainEpoch) {
	a2b, b2a := g[32:64:64], g[64:96:96]
	if dir == A2B {
		e.send.next, e.recv.next = bytes.Clone(a2b), bytes.Clone(b2a)
	} else {
		e.send.next, e.recv.next = bytes.Clone(b2a), bytes.Clone(a2b)
	}
	return bytes.Clone(g[:32]), e
}

// chainStart is HKDF(0^32, initialKey, "...Chain  Start", 96).
func chainStart(initialKey []byte) []byte {
	return kdf.HKDF(initialKey, zeroSalt[:], chainStartLabel, 96)
}

// chainAddEpoch is HKDF(nextRoot, secret, "...Chain Add Epoch", 96).
func chainAddEpoch(nextRoot, secret []byte) []byte {
	return kdf.HKDF(secret, nextRoot, chainAddEpochLabel, 96)
}

func newChain(initialKey []byte, dir Direction, p ChainParams) *chain {
	root, e := splitEpochKeys(chainStart(initialKey), dir)
	return &chain{dir: dir, links: []chainEpoch{e}, nextRoot: root, params: p.canonical()}
}

func (c *chain) addEpoch(epoch uint64, secret []byte) error {
	if c.currentEpoch == math.MaxUint64 || epoch != c.currentEpoch+1 {
		return fmt.Errorf("%w: epoch %d after %d", ErrStateDecode, epoch, c.currentEpoch)
	}
	root, e := splitEpochKeys(chainAddEpoch(c.nextRoot, secret), c.dir)
	c.currentEpoch = epoch
	c.nextRoot = root
	c.links = append(c.links, e)
	return nil
}

func (c *chain) epochIndex(epoch uint64) (int, error) {
	if epoch > c.currentEpoch {
		return 0, fmt.Errorf("%w: %d", ErrEpochOutOfRange, epoch)
	}
	back := c.currentEpoch - epoch
	if back >= uint64(len(c.links)) {
		return 0, fmt.Errorf("%w: %d", ErrEpochOutOfRange, epoch)
	}
	return len(c.links) - 1 - int(back), nil
}

// sendKey returns the next (index, key) of the sending chain of epoch.
func (c *chain) sendKey(epoch uint64) (uint32, []byte, error) {
	if epoch < c.sendEpoch {
		return 0, nil, fmt.Errorf("%w: %d to %d", ErrSendKeyEpochDecreased, c.sendEpoch, epoch)
	}
	i, err := c.epochIndex(epoch)
	if err != nil {
		return 0, nil, err
	}
	if c.sendEpoch != epoch {
		c.sendEpoch = epoch
		if i > epochsKeptBeforeSend {
			c.links = c.links[i-epochsKeptBeforeSend:]
			i = epochsKeptBeforeSend
		}
		for j := 0; j < i; j++ {
			c.links[j].send.next = nil
		}
	}
	return c.links[i].send.nextKey()
}

// recvKey returns the receive key for (epoch, index).
func (c *chain) recvKey(epoch uint64, index uint32) ([]byte, error) {
	i, err := c.epochIndex(epoch)
	if err != nil {
		return nil, err
	}
	return c.links[i].recv.key(index, c.params)
}
