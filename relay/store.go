package relay

import (
	"context"
	"errors"
	"time"
)

// Mailbox policy that every Store implementation and the server apply
// when their options leave it unset: a device's mailbox holds at most
// DefaultMaxMessages envelopes and DefaultMaxBytes of content, and an
// envelope is expired after DefaultRetention.
const (
	DefaultMaxMessages = 10000
	DefaultMaxBytes    = 100 << 20
	DefaultRetention   = 30 * 24 * time.Hour
)

// Errors returned by storage implementations. Callers branch on them with
// errors.Is; implementations wrap them with context that never includes SQL
// text, key material or message contents, so an error may be summarized to a
// peer by its kind.
var (
	// ErrNotFound: the account, device or record asked for does not exist.
	ErrNotFound = errors.New("relay: not found")
	// ErrConflict: a unique value (username, device noise key, account or
	// device id) is already taken.
	ErrConflict = errors.New("relay: conflict")
	// ErrQuotaExceeded: storing the envelopes would take a device's mailbox
	// over its message-count or byte quota.
	ErrQuotaExceeded = errors.New("relay: mailbox quota exceeded")
	// ErrDeviceRemoved: the noise key belonged to a device that was removed
	// from its account (Accounts.RemoveDevice).
	ErrDeviceRemoved = errors.New("relay: device removed")
)

// MaxDeviceName bounds Device.Name, in bytes.
const MaxDeviceName = 256

// AccountID identifies an account. The relay chooses it at random when the
// account registers.
type AccountID [16]byte

// Device is one device of an account. NoiseKey is the device's static Noise
// key, which is how the relay authenticates it; it is unique across all
// devices, and never used again once its device is removed.
type Device struct {
	Account        AccountID
	ID             uint32 // 1 for the primary device; chosen by the caller
	RegistrationID uint32 // Signal registration id
	NoiseKey       [32]byte
	Created        time.Time
	// Name is the device's name sealed by its account's devices (the
	// relay cannot read it), at most MaxDeviceName bytes; nil for none.
	Name []byte
	// LastSeen is when the device last connected, as the relay recorded
	// it (SetLastSeen: the start of a day, so that the store keeps no
	// finer trace of when a device is online); zero until then.
	LastSeen time.Time
	// Slot is the device's cohort slot (manifest.Slot), which the relay
	// assigned its account at registration; every device of an account
	// has the account's. 0 for a device stored before slots existed,
	// whose slot is its noise key's hash (DeviceSlot).
	Slot uint64
}

// Account is a registered user. Username is unique across accounts (compared
// byte for byte; the caller normalizes it). IdentityKey is the serialized
// Signal identity public key (33 bytes). UnidentifiedAccessKey and
// UnrestrictedUnidentifiedAccess govern who may send sealed-sender envelopes
// to the account.
type Account struct {
	ID                             AccountID
	Username                       string
	IdentityKey                    []byte
	UnidentifiedAccessKey          []byte
	UnrestrictedUnidentifiedAccess bool
	Created                        time.Time
}

// SignedPreKey is a signed EC prekey or a signed Kyber prekey (one-time or
// last-resort), as serialized by the session library.
type SignedPreKey struct {
	ID        uint32
	PublicKey []byte
	Signature []byte
}

// OneTimePreKey is a one-time EC prekey.
type OneTimePreKey struct {
	ID        uint32
	PublicKey []byte
}

// Bundle is what a sender needs to start a session with one device.
// KyberPreKey is a one-time Kyber prekey, or the device's last-resort Kyber
// prekey when no one-time one is left. PreKey is nil when the device has no
// one-time EC prekey left.
type Bundle struct {
	Device       Device
	Identity     []byte // the account's identity key
	SignedPreKey SignedPreKey
	KyberPreKey  SignedPreKey
	PreKey       *OneTimePreKey
}

// Envelope is one end-to-end encrypted message addressed to one device
// (Account, Device). ID is chosen by the sender and unique per recipient
// device; a second Append of the same (Account, Device, ID) is a no-op.
// SourceAccount and SourceDevice are zero for sealed-sender envelopes.
// Content is opaque ciphertext. Seq is assigned by Append and increases per
// recipient device in the order envelopes were stored.
type Envelope struct {
	ID            [16]byte
	Account       AccountID
	Device        uint32
	Type          uint32
	SourceAccount AccountID
	SourceDevice  uint32
	Sealed        bool
	Timestamp     uint64 // sender's timestamp, milliseconds since the epoch
	ServerTime    time.Time
	Content       []byte
	Seq           uint64
}

// Accounts stores accounts and their devices.
type Accounts interface {
	// CreateAccount stores a new account with its first device, atomically.
	// It returns ErrConflict if the account id, the username or the device's
	// noise key is taken; then nothing is stored.
	CreateAccount(ctx context.Context, a Account, d Device) error
	// AddDevice stores another device of an existing account. The caller
	// chooses the device id (NextDeviceID). It returns ErrNotFound if the
	// account does not exist and ErrConflict if the device id or noise key is
	// taken (a removed device's id and key stay taken: an id names one
	// device for the account's whole life, so that contacts' sessions with
	// "account.id" never silently point at another device).
	AddDevice(ctx context.Context, d Device) error
	// NextDeviceID returns one more than the highest id the account's
	// devices have had, removed ones included; ErrNotFound if the account
	// does not exist.
	NextDeviceID(ctx context.Context, id AccountID) (uint32, error)
	// AccountByID returns the account, or ErrNotFound.
	AccountByID(ctx context.Context, id AccountID) (Account, error)
	// AccountByUsername returns the account with this exact username, or
	// ErrNotFound.
	AccountByUsername(ctx context.Context, name string) (Account, error)
	// DeviceByNoiseKey returns the device authenticated by this static Noise
	// key; an error wrapping ErrDeviceRemoved if the key's device was
	// removed; or ErrNotFound.
	DeviceByNoiseKey(ctx context.Context, key [32]byte) (Device, error)
	// Devices returns the account's devices ordered by ID, or ErrNotFound if
	// the account does not exist.
	Devices(ctx context.Context, id AccountID) ([]Device, error)
	// RemoveDevice deletes the account's device dev, its prekeys and its
	// mailbox (envelopes and quota usage) in one transaction, and keeps its
	// noise key as removed: from then on DeviceByNoiseKey answers that key
	// with an error wrapping ErrDeviceRemoved, and CreateAccount and
	// AddDevice refuse it (ErrConflict); its id is never given again.
	// ErrNotFound if the account has no device dev (also when
	// it was removed already).
	RemoveDevice(ctx context.Context, acct AccountID, dev uint32) error
	// SetLastSeen sets the device's LastSeen to at (as given: the caller
	// rounds it). ErrNotFound if the device does not exist.
	SetLastSeen(ctx context.Context, acct AccountID, dev uint32, at time.Time) error
}

// AccountDevices is an account with its devices, as AccountsBatch returns
// it. Found is false (and the rest zero) for an id that names no account.
type AccountDevices struct {
	Account Account
	Devices []Device // ordered by ID
	Found   bool
}

// AccountsBatch is an optional ability of a Store: reading many accounts
// and their devices in one call (one round trip to a database server), for
// multi-recipient sends. Without it the relay reads them one by one.
type AccountsBatch interface {
	// AccountsDevices returns, for each of ids in order, the account and
	// its devices; an id may appear more than once. An unknown id is not an
	// error: its entry has Found false. The result belongs to the caller.
	AccountsDevices(ctx context.Context, ids []AccountID) ([]AccountDevices, error)
}

// SharedCounters is an optional ability of a Store that several relay
// nodes share: counters that decay by half every halfLife, kept where
// every node adds to and reads them, so that a figure the relay adapts to
// (the registration work, see Limits.RegistrationWork) is the whole
// network's rather than one node's. Without it each node counts in its own
// memory, and N nodes each see a Nth of the load.
type SharedCounters interface {
	// AddDecaying brings the counter key up to now (halving it for every
	// halfLife since it was last brought up to date), adds delta, and
	// returns the result. A counter seen for the first time is 0; delta 0
	// only reads it. A now earlier than the counter's last update decays
	// nothing.
	AddDecaying(ctx context.Context, key string, delta float64, halfLife time.Duration, now time.Time) (float64, error)
}

// PreKeys stores the public prekeys of each device.
type PreKeys interface {
	// SetSignedPreKey sets (replaces) the device's signed EC prekey.
	// ErrNotFound if the device does not exist.
	SetSignedPreKey(ctx context.Context, acct AccountID, dev uint32, k SignedPreKey) error
	// SetLastResortKyberPreKey sets (replaces) the device's last-resort Kyber
	// prekey. ErrNotFound if the device does not exist.
	SetLastResortKyberPreKey(ctx context.Context, acct AccountID, dev uint32, k SignedPreKey) error
	// AddPreKeys adds one-time EC and Kyber prekeys to the device's pools. A
	// key whose id the device already has in that pool replaces the old one.
	// ErrNotFound if the device does not exist.
	AddPreKeys(ctx context.Context, acct AccountID, dev uint32, ec []OneTimePreKey, kyber []SignedPreKey) error
	// CountPreKeys returns how many one-time EC and one-time Kyber prekeys
	// the device has left (the last-resort key is not counted). ErrNotFound
	// if the device does not exist.
	CountPreKeys(ctx context.Context, acct AccountID, dev uint32) (ec, kyber int, err error)
	// TakeBundle returns the device's bundle, removing the one-time EC prekey and one-time Kyber
	// prekey it hands out: each is handed to exactly one caller even under concurrency. When no
	// one-time Kyber prekey is left it returns the last-resort one (not removed). When no
	// one-time EC prekey is left, Bundle.PreKey is nil. One-time keys are handed out lowest id
	// first. ErrNotFound if the device does not exist or has no signed prekey or no Kyber prekey
	// at all (neither one-time nor last-resort).
	TakeBundle(ctx context.Context, acct AccountID, dev uint32) (Bundle, error)
}

// Mailboxes stores envelopes until their recipient device acknowledges them
// or they expire.
type Mailboxes interface {
	// Append stores envelopes (possibly for many devices) and returns only once they are durable
	// (group commit: many concurrent Appends share one transaction and one fsync). Duplicate
	// (account, device, ID) is a no-op success (sender retries). ErrQuotaExceeded if the device's
	// mailbox would exceed its quota (count or bytes), in which case nothing of that call is stored.
	// The same ID twice in one call is stored once. Envelopes count against the quota until Ack
	// or Expire deletes them.
	//
	// On success Append sets envs[i].Seq in the caller's slice to the stored envelope's Seq (for a
	// duplicate, the Seq of the copy already stored). A zero ServerTime is replaced by the store's
	// clock, also in the caller's slice. Append does not check that the device exists. If ctx is
	// done before the envelopes are committed Append returns ctx.Err() and they may or may not have
	// been stored; a retry with the same IDs is safe.
	Append(ctx context.Context, envs []Envelope) error
	// Fetch returns up to limit envelopes for the device with Seq > after, in Seq order, unexpired.
	// An envelope is expired once its ServerTime is older than the store's retention period
	// (30 days by default). An empty mailbox, or limit <= 0, returns an empty slice and no error.
	// The returned envelopes and their Content belong to the caller.
	Fetch(ctx context.Context, acct AccountID, dev uint32, after uint64, limit int) ([]Envelope, error)
	// Ack deletes the device's envelopes with these ids; unknown ids are ignored. It returns once
	// the deletion is durable.
	Ack(ctx context.Context, acct AccountID, dev uint32, ids [][16]byte) error
	// Expire deletes envelopes older than before; returns how many.
	// ("Older" compares ServerTime: envelopes with ServerTime < before are deleted.) A store
	// may also expire envelopes past its retention period on its own.
	Expire(ctx context.Context, before time.Time) (int, error)
}

// RateLimits keeps token buckets keyed by strings the caller builds (for
// example "send:" + sender + recipient). Buckets need not survive a restart.
type RateLimits interface {
	// Allow spends cost tokens from the bucket key (capacity burst, refilled at rate per second);
	// if the bucket lacks them it returns false and how long until it would have them.
	//
	// A bucket seen for the first time is full. A refused call spends nothing. If cost exceeds
	// burst or rate is zero the bucket can never hold cost tokens; then retryAfter is
	// math.MaxInt64. now is supplied by the caller (so tests control time); a now earlier than
	// the bucket's last update refills nothing. A negative, infinite or NaN cost, burst or rate
	// is an error.
	Allow(ctx context.Context, key string, cost, burst float64, rate float64, now time.Time) (ok bool, retryAfter time.Duration, err error)
}

// ChannelID identifies a broadcast channel (package broadcast: a hash of
// its admin key).
type ChannelID [16]byte

// Channel is a broadcast channel as the relay keeps it: who may post (the
// admin key) and a hash of the read token, never a name or a reader.
type Channel struct {
	ID        ChannelID
	AdminKey  []byte   // Ed25519 public key, 32 bytes
	TokenHash [32]byte // broadcast.TokenHash of the read token
	Created   time.Time
}

// ChannelPost is one post in a channel's log: ciphertext and the admin key's
// signature, which the relay checked before storing it. Seq is assigned by
// AppendPost: 1 for a channel's first post, then one more for each.
type ChannelPost struct {
	Channel    ChannelID
	ID         [16]byte // chosen by the author; a retry reuses it
	Seq        uint64
	Content    []byte
	Signature  []byte
	ServerTime time.Time
}

// Channels stores broadcast channels and their append-only logs of posts.
// A post is stored once, however many read it.
type Channels interface {
	// CreateChannel stores a new channel. ErrConflict if its id is taken
	// (then nothing changes).
	CreateChannel(ctx context.Context, ch Channel) error
	// ChannelByID returns the channel, or ErrNotFound.
	ChannelByID(ctx context.Context, id ChannelID) (Channel, error)
	// AppendPost stores p at the end of its channel's log and returns once
	// it is durable, having set p.Seq (and p.ServerTime, if zero, from the
	// store's clock). A post whose (Channel, ID) is stored already is not
	// stored again: p.Seq and p.ServerTime are then the stored copy's.
	// ErrNotFound if the channel does not exist. Posts of one channel
	// appended concurrently get distinct consecutive Seqs.
	AppendPost(ctx context.Context, p *ChannelPost) error
	// ChannelPosts returns up to limit posts of the channel with Seq >
	// after, in Seq order, and the channel's last Seq (0 before its first
	// post). An unknown channel, like an empty one, has no posts and head
	// 0. limit <= 0 returns no posts (and the head). The returned posts
	// belong to the caller.
	ChannelPosts(ctx context.Context, id ChannelID, after uint64, limit int) (posts []ChannelPost, head uint64, err error)
}

// Store is everything the relay keeps. Implementations are safe for
// concurrent use.
type Store interface {
	Accounts
	PreKeys
	Mailboxes
	Channels
	RateLimits
	// Close releases the store and waits for its goroutines. It is safe to
	// call more than once; calls after the first return nil.
	Close() error
}
