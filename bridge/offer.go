// Package bridge lets a user whose client still reaches the relay carry
// their contacts' connections to it: the last way back for someone whose
// every relay address is blocked, through the people they talk to.
//
// A bridge is a wss listener (package transport/wss: TLS, a WebSocket on a
// secret path, and an ordinary-looking web site for everyone else). Each
// contact gets an Offer, end to end inside a Signal message: the bridge's
// address, its certificate pin, a path and that contact's own secret. A
// stranded client dials the offer like any relay endpoint; the bridge
// opens a raw transport stream to the relay and copies bytes both ways, so
// the caller's Noise channel to the relay runs end to end through it.
//
// A bridge keeps no list of its callers (see Label): each offer's path
// carries a random label and the offer's expiry, and the secret is an HMAC
// of them under the bridge key, so the bridge re-derives it for every
// tunnel and checks the expiry and a deny list of labels. Only the user's
// home knows which contact holds which label (Issuer mints the offers).
// That lets a bridge run away from the home, from a Credential that holds
// nothing of the user's identity (Abroad: a friend abroad, a VPS), whose
// seizure reveals no contact; the home tells it of newer manifests and
// withdrawn labels over a control tunnel (Push).
//
// What each party learns: the bridge sees ciphertext, its callers'
// addresses and how much they send; the relay sees the bridge's address
// for the caller's device (no longer the caller's own); every contact who
// got an offer learns the bridge's address. A stranger, a wrong or
// replayed secret, an expired or withdrawn label, or a prober gets the
// decoy site and nothing that marks a bridge. Limits per caller (tunnels,
// bytes per second) and in total keep one contact from using up the line.
package bridge

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"samizdat/manifest"
)

// ErrBadOffer is wrapped by every reason an offer is refused.
var ErrBadOffer = errors.New("bridge: bad offer")

// Limits of an offer.
const (
	SecretSize  = 32
	PinSize     = 32
	MaxLifetime = 30 * 24 * time.Hour // an offer lasts at most this long
	maxField    = 253                 // a DNS name's length
)

// Offer is what a bridge gives one contact: where to connect, and with
// which secret. A zero Expires withdraws the bridge's earlier offer.
type Offer struct {
	Network string    // the network the bridge leads to
	RelayID string    // the relay it forwards to; the caller pins that relay's key from its own manifest
	Address string    // host:port the caller dials
	SNI     string    // TLS server name (and HTTP Host)
	Path    string    // the tunnel's path
	Secret  []byte    // this contact's own secret (SecretSize bytes)
	TLSPin  []byte    // SHA-256 of the bridge certificate's SubjectPublicKeyInfo (PinSize bytes)
	Expires time.Time // when the offer ends
}

// Withdrawn reports whether o takes the bridge back.
func (o Offer) Withdrawn() bool { return o.Expires.IsZero() }

// Check says why o cannot be used by a client of network at now, or nil.
// A withdrawal needs only the network, and names the bridge it takes back
// by its pin (or none: every bridge of the sender's).
func (o Offer) Check(network string, now time.Time) error {
	if o.Network != network {
		return fmt.Errorf("%w: for network %q, not %q", ErrBadOffer, o.Network, network)
	}
	if o.Withdrawn() {
		if len(o.TLSPin) != 0 && len(o.TLSPin) != PinSize {
			return fmt.Errorf("%w: a withdrawal with a pin of %d bytes", ErrBadOffer, len(o.TLSPin))
		}
		return nil
	}
	host, port, err := net.SplitHostPort(o.Address)
	if err != nil || host == "" || len(host) > maxField {
		return fmt.Errorf("%w: address %q is not host:port", ErrBadOffer, o.Address)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: address %q has no valid port", ErrBadOffer, o.Address)
	}
	switch {
	case o.RelayID == "" || len(o.RelayID) > 64:
		return fmt.Errorf("%w: no relay id", ErrBadOffer)
	case o.SNI == "" || len(o.SNI) > maxField || strings.ContainsAny(o.SNI, " /:\x00"):
		return fmt.Errorf("%w: server name %q", ErrBadOffer, o.SNI)
	case !strings.HasPrefix(o.Path, "/") || len(o.Path) > 128 || strings.ContainsAny(o.Path, " ?#\x00"):
		return fmt.Errorf("%w: path %q", ErrBadOffer, o.Path)
	case len(o.Secret) != SecretSize:
		return fmt.Errorf("%w: secret of %d bytes, want %d", ErrBadOffer, len(o.Secret), SecretSize)
	case len(o.TLSPin) != PinSize:
		return fmt.Errorf("%w: certificate pin of %d bytes, want %d", ErrBadOffer, len(o.TLSPin), PinSize)
	case !o.Expires.After(now):
		return fmt.Errorf("%w: expired at %s", ErrBadOffer, o.Expires.UTC().Format(time.RFC3339))
	case o.Expires.After(now.Add(MaxLifetime + time.Hour)):
		return fmt.Errorf("%w: lasts until %s, longer than %s", ErrBadOffer, o.Expires.UTC().Format(time.RFC3339), MaxLifetime)
	}
	return nil
}

// Endpoint is the offer as a manifest endpoint, for the dialer.
func (o Offer) Endpoint() manifest.Endpoint {
	return manifest.Endpoint{Transport: "wss", Address: o.Address, SNI: o.SNI, Host: o.SNI, Path: o.Path,
		Secret: o.Secret, TLSPin: o.TLSPin}
}
