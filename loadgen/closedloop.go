package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// closedLoop has sender i keep window durable sends in flight to to[i]
// (phase 1 messages, each counted in c) until the returned stop is called;
// stop returns once every send has its response.
func closedLoop(senders []*peer, to []ident, tr *tracker, window int, c *counter) (stop func()) {
	var halt atomic.Bool
	var wg sync.WaitGroup
	for i, p := range senders {
		wg.Go(func() {
			w := newWindow(window, c)
			for !halt.Load() {
				id, content := tr.message(1, sinceEpoch())
				w.send(p, sendReq(to[i], id, content), nil)
			}
			w.wait()
		})
	}
	return func() {
		halt.Store(true)
		wg.Wait()
	}
}

// awaitDeliveries waits until n messages have been delivered since the
// tracker counted d0, so that a stalled machine never measures a zero
// rate (nor paces the open-loop phases from one); only ctx ends it early.
func awaitDeliveries(ctx context.Context, tr *tracker, d0, n int64) error {
	for tr.delivered.Load()-d0 < n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
