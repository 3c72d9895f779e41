package relay_test

import (
	"context"
	"crypto/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/manifest"
	"samizdat/noisechan"
	"samizdat/relay"
	"samizdat/relay/wire"
	"samizdat/session/curve"
)

func makeInvite() *wire.Request {
	return &wire.Request{Op: &wire.Request_MakeInvite{MakeInvite: &wire.MakeInvite{}}}
}

// invite asks the relay for u's inviter token.
func (u *user) invite(t *testing.T) []byte {
	t.Helper()
	tok := u.dev1().mustOK(makeInvite()).GetInvite().GetToken()
	if len(tok) == 0 {
		t.Fatal("no token")
	}
	return tok
}

// tryRegister registers name with Noise key noise and the inviter token
// tok (nil: the relay's own invite) and returns the response.
func (e *env) tryRegister(name string, noise noisechan.KeyPair, tok []byte) *wire.Response {
	e.t.Helper()
	ik, err := curve.GenerateKeyPair(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	req := registerReq(e.t, name, ik, noise, make([]byte, 16), 1)
	req.Inviter = tok
	c := e.dial(noise)
	defer c.nc.Close()
	return c.call(&wire.Request{Op: &wire.Request_Register{Register: req}})
}

// keyInCohort draws Noise keys until one's keyless hash falls in cohort c
// of n: what a client did to pick its cohort.
func keyInCohort(t *testing.T, c, n uint32) noisechan.KeyPair {
	for {
		k := newKey(t)
		if manifest.CohortOf(k.Public[:], n) == c {
			return k
		}
	}
}

// A device cannot choose its cohort by its key: devices whose keys all
// hash into cohort 1 are placed across the cohorts, never at their key's
// hash.
func TestPlacementIgnoresDeviceKey(t *testing.T) {
	e := newEnv(t, nil)
	const n = 4
	cohorts := map[uint32]int{}
	for i := range 16 {
		k := keyInCohort(t, 1, n)
		r := e.tryRegister("ground"+string(rune('a'+i)), k, nil)
		if r.Status != wire.Status_OK {
			t.Fatalf("register: %v %s", r.Status, r.Reason)
		}
		slot := manifest.Slot(r.GetRegistered().GetSlot())
		if slot == 0 || slot == manifest.KeySlot(k.Public[:]) {
			t.Fatalf("device %d placed at slot %d, its key's hash", i, slot)
		}
		cohorts[slot.Cohort(n)]++
	}
	// All 16 in cohort 1 by chance: 4^-16.
	if len(cohorts) < 2 {
		t.Fatalf("16 devices ground into cohort 1 were all placed there: %v", cohorts)
	}
}

// An invite from U places the new user in U's cohort, and an invitee's
// invite places its invitee there too (the subtree); a linked device is
// in its account's cohort.
func TestInvitePlacesInInvitersCohort(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.register("alice", 1)
	if alice.slot == 0 {
		t.Fatal("no slot assigned")
	}
	prev := alice
	for i, name := range []string{"bob", "carol", "dave"} {
		k := keyInCohort(t, alice.slot.Cohort(4)%4+1, 4) // a key hashing elsewhere
		r := e.tryRegister(name, k, prev.invite(t))
		if r.Status != wire.Status_OK {
			t.Fatalf("%s: %v %s", name, r.Status, r.Reason)
		}
		if got := manifest.Slot(r.GetRegistered().GetSlot()); got != alice.slot {
			t.Fatalf("%s (depth %d) placed at %d, want the inviter's %d", name, i+1, got, alice.slot)
		}
		c := e.dial(k)
		prev = &user{name: name, devices: map[uint32]*device{1: {id: 1, noise: k, c: c}}}
	}
	d := e.link(alice, 77, "laptop")
	got, err := e.store.DeviceByNoiseKey(context.Background(), d.noise.Public)
	if err != nil || manifest.Slot(got.Slot) != alice.slot {
		t.Fatalf("linked device: slot %d (%v), want %d", got.Slot, err, alice.slot)
	}
}

// The relay bounds the invites an account makes; another account has
// its own budget.
func TestInviteRateLimit(t *testing.T) {
	e := newEnv(t, func(c *relay.Config) {
		c.Limits.Invites = relay.Rate{Burst: 2, PerSecond: 1.0 / 86400}
	})
	alice := e.register("alice", 1)
	bob := e.register("bob", 1)
	alice.invite(t)
	alice.invite(t)
	r := expectStatus(t, alice.dev1(), makeInvite(), wire.Status_RATE_LIMITED)
	if r.RetryAfterMs == 0 || !strings.Contains(r.Reason, "too many invites") {
		t.Fatalf("refused with %q, retry after %d ms", r.Reason, r.RetryAfterMs)
	}
	bob.invite(t)
	// Anonymous channels make no invites.
	anon := e.dial(newKey(t))
	expectStatus(t, anon, makeInvite(), wire.Status_UNAUTHENTICATED)
}

// Bad inviter tokens are refused with their reason, and nothing is
// registered: the username stays free.
func TestBadInvitesRefused(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e := newEnv(t, func(c *relay.Config) { c.Now = clock })
	other := newEnv(t, nil)
	alice := e.register("alice", 1)
	good := alice.invite(t)
	forged := append([]byte(nil), good...)
	forged[len(forged)/2] ^= 1
	stranger := other.register("stranger", 1).invite(t)

	// A token from a device that was removed since.
	laptop := e.link(alice, 9, "laptop")
	laptop.c = e.dial(laptop.noise)
	fromLaptop := laptop.c.mustOK(makeInvite()).GetInvite().GetToken()
	alice.dev1().mustOK(removeDevice(laptop.id))

	for _, tc := range []struct {
		name string
		tok  []byte
		says string
	}{
		{"malformed", []byte("not a token"), "malformed"},
		{"forged", forged, "forged or from another relay"},
		{"another relay's", stranger, "forged or from another relay"},
		{"removed device", fromLaptop, "device was removed"},
	} {
		r := e.tryRegister("newcomer", newKey(t), tc.tok)
		if r.Status != wire.Status_UNAUTHORIZED || !strings.Contains(r.Reason, tc.says) {
			t.Errorf("%s: %v %q, want UNAUTHORIZED saying %q", tc.name, r.Status, r.Reason, tc.says)
		}
	}
	now.Add(int64(15 * 24 * time.Hour)) // past the default 14 days
	if r := e.tryRegister("newcomer", newKey(t), good); r.Status != wire.Status_UNAUTHORIZED || !strings.Contains(r.Reason, "expired") {
		t.Errorf("expired: %v %q", r.Status, r.Reason)
	}
	if _, err := e.store.AccountByUsername(context.Background(), "newcomer"); err == nil {
		t.Fatal("a refused invite registered the account")
	}
	if r := e.tryRegister("newcomer", newKey(t), nil); r.Status != wire.Status_OK {
		t.Fatalf("root invite after: %v %s", r.Status, r.Reason)
	}
}

// A device stored before the relay assigned slots (Slot 0) is pushed the
// manifest of its key's cohort, the one it always had; a new one that of
// the slot the relay stored, whatever its key hashes to.
func TestManifestPushBySlot(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	old := newKey(t)
	acct := relay.AccountID{1, 2, 3}
	ik, _ := curve.GenerateKeyPair(rand.Reader)
	if err := e.store.CreateAccount(ctx, relay.Account{ID: acct, Username: "oldtimer", IdentityKey: ik.Public.Bytes(), Created: time.Now()},
		relay.Device{Account: acct, ID: 1, RegistrationID: 5, NoiseKey: old.Public, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	const n = 4
	newcomer := e.register("newcomer", 1)
	e.srv.SetManifestFunc(func(s manifest.Slot) []byte { return []byte{byte(s.Cohort(n))} })
	oc := e.dial(old)
	oc.mustOK(startDelivery())
	newcomer.dev1().mustOK(startDelivery())
	if got, want := oc.nextManifest(), manifest.CohortOf(old.Public[:], n); len(got) != 1 || uint32(got[0]) != want {
		t.Fatalf("old device pushed cohort %v, want %d", got, want)
	}
	if got, want := newcomer.dev1().nextManifest(), newcomer.slot.Cohort(n); len(got) != 1 || uint32(got[0]) != want {
		t.Fatalf("new device pushed cohort %v, want %d (its stored slot)", got, want)
	}
}
