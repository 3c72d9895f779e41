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

// FuncHub is a Hub that can also call a function on a wake-up instead of
// filling a channel. The relay uses it when its Hub has it, so that a
// delivering connection with nothing to deliver needs no goroutine
// waiting on a channel; with a plain Hub each such connection keeps one.
type FuncHub interface {
	Hub
	// SubscribeFunc arranges for wake to be called after each Notify for
	// the device until cancel returns; cancel is safe to call more than
	// once. wake may run on the notifier's goroutine with the hub's locks
	// held: it must return at once and must not call the hub.
	SubscribeFunc(acct AccountID, dev uint32, wake func()) (cancel func())
}

// LocalHub is a Hub within one process. It is a FuncHub.
type LocalHub struct {
	mu   sync.Mutex
	subs map[deviceKey]*hubSub // each device's subscribers, a list; guarded by mu
}

// hubSub is one subscription: a channel to fill or a function to call.
type hubSub struct {
	next *hubSub
	ch   chan struct{}
	fn   func()
}

var _ FuncHub = (*LocalHub)(nil)

type deviceKey struct {
	acct AccountID
	dev  uint32
}

// NewLocalHub returns an empty in-process hub.
func NewLocalHub() *LocalHub {
	return &LocalHub{subs: make(map[deviceKey]*hubSub)}
}

// Subscribe implements Hub.
func (h *LocalHub) Subscribe(acct AccountID, dev uint32) (<-chan struct{}, func()) {
	sub := &hubSub{ch: make(chan struct{}, 1)}
	return sub.ch, h.add(deviceKey{acct, dev}, sub)
}

// SubscribeFunc implements FuncHub.
func (h *LocalHub) SubscribeFunc(acct AccountID, dev uint32, wake func()) func() {
	return h.add(deviceKey{acct, dev}, &hubSub{fn: wake})
}

// add subscribes sub to k's wake-ups and returns its cancel.
func (h *LocalHub) add(k deviceKey, sub *hubSub) func() {
	h.mu.Lock()
	sub.next = h.subs[k]
	h.subs[k] = sub
	h.mu.Unlock()
	return func() { h.remove(k, sub) }
}

// remove unsubscribes sub, if it is still subscribed.
func (h *LocalHub) remove(k deviceKey, sub *hubSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	head := h.subs[k]
	if head == sub {
		if sub.next == nil {
			delete(h.subs, k)
		} else {
			h.subs[k] = sub.next
		}
		return
	}
	for p := head; p != nil; p = p.next {
		if p.next == sub {
			p.next = sub.next
			return
		}
	}
}

// Notify implements Hub.
func (h *LocalHub) Notify(acct AccountID, dev uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for p := h.subs[deviceKey{acct, dev}]; p != nil; p = p.next {
		if p.fn != nil {
			p.fn()
			continue
		}
		select {
		case p.ch <- struct{}{}:
		default:
		}
	}
}
