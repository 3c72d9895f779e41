package relay

import (
	"context"
	"testing"
	"time"
)

// stepAccounts serves Devices from devs, calling during once while the
// first read is in flight.
type stepAccounts struct {
	Accounts
	devs   []Device
	reads  int
	during func()
}

func (s *stepAccounts) Devices(context.Context, AccountID) ([]Device, error) {
	s.reads++
	out := s.devs
	if s.during != nil {
		f := s.during
		s.during = nil
		f()
	}
	return out, nil
}

// A device list read before an AddDevice committed, and returned after
// its forget, must not be cached: the next send sees the new device.
func TestDeviceCacheForgetDuringRead(t *testing.T) {
	var id AccountID
	st := &stepAccounts{devs: []Device{{Account: id, ID: 1}}}
	c := &deviceCache{ttl: time.Hour, max: 10}
	st.during = func() {
		st.devs = []Device{{Account: id, ID: 1}, {Account: id, ID: 2}}
		c.forget(id)
	}
	got, err := c.devices(context.Background(), st, id)
	if err != nil || len(got) != 1 {
		t.Fatalf("first read: %v, %v; want the one device read", got, err)
	}
	got, err = c.devices(context.Background(), st, id)
	if err != nil || len(got) != 2 {
		t.Fatalf("after forget: %v, %v; want both devices", got, err)
	}
	if _, err := c.devices(context.Background(), st, id); err != nil || st.reads != 2 {
		t.Fatalf("third read: %v, %d store reads; want 2 (cached)", err, st.reads)
	}
}
