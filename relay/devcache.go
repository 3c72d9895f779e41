package relay

import (
	"context"
	"sync"
	"time"
)

// deviceCache remembers accounts' device lists for a short time, so that
// a burst of sends to one recipient reads the list once. A device added on
// this relay is seen at once (AddDevice forgets the entry); one added on
// another relay sharing the store is seen within the TTL, and until then a
// sender addressing it gets "extra device" and retries.
type deviceCache struct {
	ttl time.Duration    // zero or negative: no caching
	max int              // entries; the map is emptied when full
	now func() time.Time // nil: time.Now

	mu  sync.Mutex
	m   map[AccountID]devEntry // guarded by mu
	gen uint64                 // bumped by forget; guarded by mu
}

type devEntry struct {
	devs []Device // not modified after it is stored
	at   time.Time
}

// devices returns the account's devices, from the cache when fresh.
func (c *deviceCache) devices(ctx context.Context, st Accounts, id AccountID) ([]Device, error) {
	if c.ttl <= 0 {
		return st.Devices(ctx, id)
	}
	clock := time.Now
	if c.now != nil {
		clock = c.now
	}
	now := clock()
	c.mu.Lock()
	e, ok := c.m[id]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.devs, nil
	}
	devs, err := st.Devices(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	// A list read while a forget ran may predate the change it was for:
	// use it, but do not keep it.
	if c.gen == gen {
		if c.m == nil || len(c.m) >= c.max {
			c.m = make(map[AccountID]devEntry)
		}
		c.m[id] = devEntry{devs: devs, at: now}
	}
	c.mu.Unlock()
	return devs, nil
}

// forget drops the account's entry.
func (c *deviceCache) forget(id AccountID) {
	c.mu.Lock()
	delete(c.m, id)
	c.gen++
	c.mu.Unlock()
}
