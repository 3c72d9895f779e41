package clock_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"samizdat/clock"
)

func TestRealWaits(t *testing.T) {
	c := clock.Or(nil)
	if c != clock.Real {
		t.Fatal("Or(nil) is not Real")
	}
	<-c.NewTimer(time.Millisecond).C()
	<-c.After(time.Millisecond)
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	<-done
	ctx, cancel := c.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v", ctx.Err())
	}
	if c.Since(c.Now()) < 0 || c.Until(c.Now().Add(time.Hour)) <= 0 {
		t.Fatal("Since/Until disagree with Now")
	}
}

func TestSimStartsAtEpoch(t *testing.T) {
	s := clock.NewSim(time.Time{})
	if !s.Now().Equal(clock.Epoch) {
		t.Fatalf("Now = %v, want %v", s.Now(), clock.Epoch)
	}
	start := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := clock.NewSim(start).Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
}

// recv returns the value waiting in c, failing if there is none.
func recv(t *testing.T, c <-chan time.Time) time.Time {
	t.Helper()
	select {
	case v := <-c:
		return v
	default:
		t.Fatal("timer did not fire")
		return time.Time{}
	}
}

func empty(t *testing.T, c <-chan time.Time) {
	t.Helper()
	select {
	case v := <-c:
		t.Fatalf("unexpected fire at %v", v)
	default:
	}
}

func TestSimTimerOrder(t *testing.T) {
	// Deadlines out of order, with ties: timers fire by deadline, then by
	// arming order, and Now reads each deadline while it fires.
	durs := []time.Duration{5, 1, 3, 1, 5, 2, 3}
	want := []int{1, 3, 5, 2, 6, 0, 4}

	t.Run("AfterFunc", func(t *testing.T) {
		s := clock.NewSim(time.Time{})
		t0 := s.Now()
		ran := make(chan int)
		for i, d := range durs {
			s.AfterFunc(d*time.Second, func() { ran <- i })
		}
		var order []int
		for s.Step() {
			i := <-ran
			if got := s.Since(t0); got != durs[i]*time.Second {
				t.Errorf("func %d ran at +%v, want +%v", i, got, durs[i]*time.Second)
			}
			order = append(order, i)
		}
		if !slices.Equal(order, want) {
			t.Fatalf("order = %v, want %v", order, want)
		}
	})

	t.Run("Timer", func(t *testing.T) {
		s := clock.NewSim(time.Time{})
		t0 := s.Now()
		timers := make([]clock.Timer, len(durs))
		for i, d := range durs {
			timers[i] = s.NewTimer(d * time.Second)
		}
		if s.Pending() != len(durs) {
			t.Fatalf("Pending = %d", s.Pending())
		}
		var order []int
		for s.Step() {
			for i, tm := range timers {
				select {
				case v := <-tm.C():
					if v.Sub(t0) != durs[i]*time.Second {
						t.Errorf("timer %d fired at +%v, want +%v", i, v.Sub(t0), durs[i]*time.Second)
					}
					order = append(order, i)
				default:
				}
			}
		}
		if !slices.Equal(order, want) {
			t.Fatalf("order = %v, want %v", order, want)
		}
		if got := s.Since(t0); got != 5*time.Second {
			t.Fatalf("Now after the last step = +%v, want +5s", got)
		}
		if s.Fired() != uint64(len(durs)) {
			t.Fatalf("Fired = %d", s.Fired())
		}
	})
}

func TestSimAdvance(t *testing.T) {
	s := clock.NewSim(time.Time{})
	t0 := s.Now()
	a := s.NewTimer(time.Second)
	b := s.NewTimer(3 * time.Second)
	s.Advance(999 * time.Millisecond)
	empty(t, a.C())
	s.Advance(time.Millisecond)
	if got := recv(t, a.C()); got.Sub(t0) != time.Second {
		t.Fatalf("a fired at +%v", got.Sub(t0))
	}
	s.Advance(10 * time.Second)
	if got := recv(t, b.C()); got.Sub(t0) != 3*time.Second {
		t.Fatalf("b fired at +%v, want +3s (its deadline, not the advance's end)", got.Sub(t0))
	}
	if s.Since(t0) != 11*time.Second {
		t.Fatalf("Now = +%v", s.Since(t0))
	}
	s.AdvanceTo(t0) // backwards: nothing
	if s.Since(t0) != 11*time.Second {
		t.Fatal("AdvanceTo moved the clock backwards")
	}
	// A zero or negative duration fires at the next advance, at Now.
	z := s.NewTimer(-time.Second)
	s.Advance(0)
	if got := recv(t, z.C()); got.Sub(t0) != 11*time.Second {
		t.Fatalf("past timer fired at +%v", got.Sub(t0))
	}
}

func TestSimStopReset(t *testing.T) {
	s := clock.NewSim(time.Time{})
	t0 := s.Now()
	a := s.NewTimer(time.Second)
	if !a.Stop() {
		t.Fatal("Stop of an armed timer reported false")
	}
	if a.Stop() {
		t.Fatal("second Stop reported true")
	}
	s.Advance(2 * time.Second)
	empty(t, a.C())

	// Reset of a fired timer whose value was not read: no stale value.
	b := s.NewTimer(time.Second)
	s.Advance(time.Second)
	if b.Reset(time.Second) {
		t.Fatal("Reset of a fired timer reported it active")
	}
	empty(t, b.C())
	s.Advance(time.Second)
	if got := recv(t, b.C()); got.Sub(t0) != 4*time.Second {
		t.Fatalf("reset timer fired at +%v, want +4s", got.Sub(t0))
	}

	// Reset of an armed timer moves it.
	c := s.NewTimer(time.Second)
	if !c.Reset(5 * time.Second) {
		t.Fatal("Reset of an armed timer reported it inactive")
	}
	s.Advance(4 * time.Second)
	empty(t, c.C())
	s.Advance(time.Second)
	if got := recv(t, c.C()); got.Sub(t0) != 9*time.Second {
		t.Fatalf("moved timer fired at +%v, want +9s", got.Sub(t0))
	}

	// A stopped AfterFunc does not run.
	ran := atomic.Bool{}
	f := s.AfterFunc(time.Second, func() { ran.Store(true) })
	if !f.Stop() {
		t.Fatal("Stop of an armed AfterFunc reported false")
	}
	if f.C() != nil {
		t.Fatal("AfterFunc timer has a channel")
	}
	s.Advance(time.Hour)
	if ran.Load() || s.Pending() != 0 {
		t.Fatalf("stopped AfterFunc ran=%v, pending=%d", ran.Load(), s.Pending())
	}
}

func TestSimTicker(t *testing.T) {
	s := clock.NewSim(time.Time{})
	t0 := s.Now()
	k := s.NewTicker(2 * time.Second)
	for i := 1; i <= 3; i++ {
		s.Advance(2 * time.Second)
		if got := recv(t, k.C()); got.Sub(t0) != time.Duration(2*i)*time.Second {
			t.Fatalf("tick %d at +%v", i, got.Sub(t0))
		}
	}
	// A slow receiver misses ticks but is not blocked on.
	s.Advance(10 * time.Second)
	if got := recv(t, k.C()); got.Sub(t0) != 8*time.Second {
		t.Fatalf("first undelivered tick at +%v, want +8s", got.Sub(t0))
	}
	empty(t, k.C())
	k.Reset(time.Second)
	s.Advance(time.Second)
	if got := recv(t, k.C()); got.Sub(t0) != 17*time.Second {
		t.Fatalf("tick after Reset at +%v, want +17s", got.Sub(t0))
	}
	k.Stop()
	s.Advance(time.Hour)
	empty(t, k.C())
	if s.Pending() != 0 {
		t.Fatalf("Pending = %d after Stop", s.Pending())
	}
}

func TestSimContext(t *testing.T) {
	s := clock.NewSim(time.Time{})
	ctx, cancel := s.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if dl, ok := ctx.Deadline(); !ok || !dl.Equal(s.Now().Add(time.Minute)) {
		t.Fatalf("Deadline = %v, %v", dl, ok)
	}
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	type key struct{}
	valued := context.WithValue(ctx, key{}, "v")
	afterRan := make(chan struct{})
	context.AfterFunc(ctx, func() { close(afterRan) })

	s.Advance(time.Minute - 1)
	if ctx.Err() != nil || child.Err() != nil {
		t.Fatalf("done early: %v, %v", ctx.Err(), child.Err())
	}
	s.Advance(1)
	<-ctx.Done()
	<-child.Done()
	<-afterRan
	for name, c := range map[string]context.Context{"ctx": ctx, "child": child, "valued": valued} {
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("%s: Err = %v, want DeadlineExceeded", name, c.Err())
		}
		if !errors.Is(context.Cause(c), context.DeadlineExceeded) {
			t.Errorf("%s: Cause = %v, want DeadlineExceeded", name, context.Cause(c))
		}
	}
	if valued.Value(key{}) != "v" {
		t.Error("value lost")
	}
	if s.Pending() != 0 {
		t.Fatalf("Pending = %d after the deadline", s.Pending())
	}
}

func TestSimContextCancel(t *testing.T) {
	s := clock.NewSim(time.Time{})
	parent, cancelParent := context.WithCancelCause(context.Background())
	ctx, cancel := s.WithTimeout(parent, time.Hour)
	defer cancel()
	other, cancelOther := s.WithTimeout(context.Background(), time.Hour)
	cancelOther()
	if !errors.Is(other.Err(), context.Canceled) {
		t.Fatalf("cancelled: Err = %v", other.Err())
	}
	boom := errors.New("boom")
	cancelParent(boom)
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(context.Cause(ctx), boom) {
		t.Fatalf("parent cancelled: Err = %v, Cause = %v", ctx.Err(), context.Cause(ctx))
	}
	// Cancelling stops the deadline's timer.
	if s.Pending() != 0 {
		t.Fatalf("Pending = %d after cancel", s.Pending())
	}
	// A parent with an earlier deadline wins.
	early, c1 := s.WithTimeout(context.Background(), time.Second)
	defer c1()
	late, c2 := s.WithTimeout(early, time.Hour)
	defer c2()
	if dl, _ := late.Deadline(); !dl.Equal(s.Now().Add(time.Second)) {
		t.Fatalf("Deadline = %v, want the parent's", dl)
	}
	s.Advance(time.Second)
	<-late.Done()
	if !errors.Is(late.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v", late.Err())
	}
	// A deadline already past is done at once.
	past, c3 := s.WithDeadline(context.Background(), s.Now())
	defer c3()
	<-past.Done()
	if !errors.Is(past.Err(), context.DeadlineExceeded) {
		t.Fatalf("past deadline: Err = %v", past.Err())
	}
}

// work burns CPU for a while that varies with n: time that passes on the
// wall clock and must not pass on the simulated one.
func work(n int) [32]byte {
	h := sha256.Sum256([]byte{byte(n)})
	for range 2000 + 500*(n%7) {
		h = sha256.Sum256(h[:])
	}
	return h
}

// world runs goroutines that sleep, work and hand messages to each other
// on s, and returns the log of what happened when, in simulated time.
func world(s *clock.Sim, seed uint64) []string {
	t0 := s.Now()
	const workers = 40
	var mu sync.Mutex
	var log []string
	note := func(format string, args ...any) {
		mu.Lock()
		log = append(log, fmt.Sprintf("%v ", s.Since(t0))+fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	inbox := make([]chan int, workers)
	for i := range inbox {
		inbox[i] = make(chan int, workers)
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			for round := range 10 {
				s.Sleep(time.Duration(1+r.IntN(1000)) * time.Millisecond)
				work(i + round)
				to := r.IntN(workers)
				inbox[to] <- i
				note("w%d sends to w%d", i, to)
				ctx, cancel := s.WithTimeout(context.Background(), time.Duration(1+r.IntN(50))*time.Millisecond)
				select {
				case from := <-inbox[i]:
					note("w%d hears w%d", i, from)
				case <-ctx.Done():
					note("w%d times out", i)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	slices.Sort(log) // events of one instant may be logged in any order
	return log
}

func TestSimRunDeterministic(t *testing.T) {
	var logs [2][]string
	for i := range logs {
		s := clock.NewSim(time.Time{})
		t.Cleanup(s.Start())
		logs[i] = world(s, 7)
		if s.Since(clock.Epoch) <= 0 {
			t.Fatal("the clock did not move")
		}
	}
	if len(logs[0]) < 400 {
		t.Fatalf("only %d events", len(logs[0]))
	}
	if !slices.Equal(logs[0], logs[1]) {
		for i := range logs[0] {
			if logs[0][i] != logs[1][i] {
				t.Fatalf("runs differ at event %d: %q vs %q", i, logs[0][i], logs[1][i])
			}
		}
		t.Fatal("runs differ in length")
	}
}

// TestSimRunWorkTakesNoTime: CPU work between two timers does not move
// the simulated clock, and Run waits for it before firing the next timer.
func TestSimRunWorkTakesNoTime(t *testing.T) {
	s := clock.NewSim(time.Time{})
	t.Cleanup(s.Start())
	t0 := s.Now()
	got := make(chan time.Duration, 1)
	handoff := make(chan struct{})
	go func() {
		s.Sleep(time.Second)
		close(handoff)
	}()
	go func() {
		<-handoff
		work(3) // a handler that takes a while on the wall clock
		work(4)
		s.Sleep(2 * time.Second)
		got <- s.Since(t0)
	}()
	// A distractor timer due in between: had Run fired it while the
	// handler worked, nothing would change; one due before the handler's
	// sleep ends must not be skipped or reordered either.
	other := s.After(1500 * time.Millisecond)
	if d := <-got; d != 3*time.Second {
		t.Fatalf("handler woke at +%v, want +3s", d)
	}
	if v := <-other; v.Sub(t0) != 1500*time.Millisecond {
		t.Fatalf("distractor fired at +%v", v.Sub(t0))
	}
}

func TestQuiet(t *testing.T) {
	var q clock.Quiet
	stop := make(chan struct{})
	var spinning atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				spinning.Store(true)
			}
		}
	}()
	for !spinning.Load() {
	}
	for range 20 {
		if q.Now() {
			t.Fatal("quiescent while a goroutine spins")
		}
	}
	close(stop)
	<-done
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := q.Wait(ctx); err != nil {
		t.Fatalf("not quiescent after the spinner stopped: %v", err)
	}
}

func TestSimRunReturnsOnCancel(t *testing.T) {
	s := clock.NewSim(time.Time{})
	s.NewTimer(time.Hour) // armed, but Run must still return when told
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.NewTimer(2 * time.Hour).C() // Run moved the clock past both timers
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if s.Since(clock.Epoch) != 2*time.Hour {
		t.Fatalf("clock at +%v", s.Since(clock.Epoch))
	}
}
