package client_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/client"
)

func TestParseTimer(t *testing.T) {
	for s, want := range map[string]time.Duration{"off": 0, "30s": 30 * time.Second, "5m": 5 * time.Minute, "1h": time.Hour,
		"90m": 90 * time.Minute, "1d": 24 * time.Hour, "2w": 14 * 24 * time.Hour, "4w": client.MaxTimer} {
		got, err := client.ParseTimer(s)
		if err != nil || got != want {
			t.Errorf("ParseTimer(%q) = %v, %v; want %v", s, got, err, want)
		}
		if again, err := client.ParseTimer(client.FormatTimer(got)); err != nil || again != got {
			t.Errorf("FormatTimer(%v) = %q does not read back: %v, %v", got, client.FormatTimer(got), again, err)
		}
	}
	for _, bad := range []string{"", "5", "0.5s", "-1h", "5w", "29d", "1x", "d", "1.5d", "01d"} {
		if _, err := client.ParseTimer(bad); err == nil {
			t.Errorf("ParseTimer(%q) took it", bad)
		}
	}
}

// TestDisappearingMessages: alice sets a timer on her conversation with
// bob; bob's two devices learn it; texts both ways, and the copy of bob's
// reply on his other device, disappear from every device once it runs out.
func TestDisappearingMessages(t *testing.T) {
	ctx := context.Background()
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	tweak := func(cfg *client.Config) { cfg.Now = now }
	n := startRelay(t)
	alice := newUser(t, n, "alice", tweak)
	bob := newUser(t, n, "bob", tweak)
	bob2 := &user{wake: make(chan struct{}, 1)}
	bob2.Client = linkDevice(t, bob.Client, client.Config{Home: t.TempDir(), OnEvent: bob2.onEvent, PingInterval: time.Second, Now: now})
	for _, u := range []*user{alice, bob, bob2} {
		u.receive(t)
	}
	if _, err := alice.Send(ctx, "bob", "kept"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, client.EventMessage, 1)
	bob2.waitFor(t, client.EventMessage, 1)

	if err := alice.SetTimer(ctx, "bob", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*user{bob, bob2} {
		if ev := u.waitFor(t, client.EventTimer, 1)[0]; ev.Peer != "alice" || ev.Text != "1h" {
			t.Fatalf("device %d: timer event %+v", u.DeviceID(), ev)
		}
		if d, err := u.Timer(ctx, "alice"); err != nil || d != time.Hour {
			t.Fatalf("device %d: timer %v, %v", u.DeviceID(), d, err)
		}
	}
	if _, err := alice.Send(ctx, "bob", "gone soon"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor(t, client.EventMessage, 2)
	bob2.waitFor(t, client.EventMessage, 2)
	if _, err := bob2.Send(ctx, "alice", "me too"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(t, client.EventMessage, 1)
	bob.waitFor(t, client.EventDelivered, 1) // the phone's copy, marked by alice's receipt

	count := func(u *user) int {
		h, err := u.History(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(h)
	}
	for _, u := range []*user{alice, bob, bob2} {
		if got := count(u); got != 3 {
			t.Fatalf("%s device %d holds %d messages before the timer ran out, want 3", u.Username(), u.DeviceID(), got)
		}
	}
	skew.Store(int64(time.Hour + time.Minute))
	for _, u := range []*user{alice, bob, bob2} {
		h, err := u.History(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h[0].Body != "kept" {
			t.Fatalf("%s device %d holds %+v after the timer ran out; want only the message from before it", u.Username(), u.DeviceID(), h)
		}
	}
}

func FuzzParseTimer(f *testing.F) {
	for _, s := range []string{"off", "30s", "1h", "1d", "4w", "90m", "01d", "-1h", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := client.ParseTimer(s)
		if err != nil {
			return
		}
		if d < 0 || d > client.MaxTimer || d%time.Second != 0 {
			t.Fatalf("ParseTimer(%q) = %v, out of range", s, d)
		}
		if again, err := client.ParseTimer(client.FormatTimer(d)); err != nil || again != d {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
	})
}
