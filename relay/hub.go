package relay

import "sync"

// Hub carries wake-ups ("device D has mail") from the code that stores
// envelopes to the connections that deliver them. A wake-up is only a hint:
// the mailbox is the truth, and a delivering connection also polls, so a lost
// or duplicated wake-up costs at most a delay or an empty fetch. That lets a
// Hub span relay nodes over a lossy bus.
type Hub interface {
	// Subscribe returns a channel that receives a value (coalesced: the
	// channel holds at most one) after each Notify for the device, until
	// cancel is called. cancel is safe to call more than once.
	Subscribe(acct AccountID, dev uint32) (wake <-chan struct{}, cancel func())
	// Notify wakes every subscriber of the device. It never blocks on a slow
	// subscriber.
	Notify(acct AccountID, dev uint32)
}

// LocalHub is a Hub within one process.
type LocalHub struct {
	mu   sync.Mutex
	subs map[deviceKey]map[*chan struct{}]struct{} // guarded by mu
}

var _ Hub = (*LocalHub)(nil)

type deviceKey struct {
	acct AccountID
	dev  uint32
}

// NewLocalHub returns an empty in-process hub.
func NewLocalHub() *LocalHub {
	return &LocalHub{subs: make(map[deviceKey]map[*chan struct{}]struct{})}
}

// Subscribe implements Hub.
func (h *LocalHub) Subscribe(acct AccountID, dev uint32) (<-chan struct{}, func()) {
	k := deviceKey{acct, dev}
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	m := h.subs[k]
	if m == nil {
		m = make(map[*chan struct{}]struct{})
		h.subs[k] = m
	}
	m[&ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if m := h.subs[k]; m != nil {
				delete(m, &ch)
				if len(m) == 0 {
					delete(h.subs, k)
				}
			}
		})
	}
}

// Notify implements Hub.
func (h *LocalHub) Notify(acct AccountID, dev uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[deviceKey{acct, dev}] {
		select {
		case *ch <- struct{}{}:
		default:
		}
	}
}
