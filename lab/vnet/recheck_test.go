package vnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"samizdat/censor"
)

// openEcho opens a live flow to the echo server at vEcho as client on isp
// and waits until it carried a round trip.
func openEcho(t *testing.T, n *Net, got chan error, client, isp string) net.Conn {
	t.Helper()
	c, err := n.Dialer(client, isp)(context.Background(), "tcp", vEcho.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping"))
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	<-got
	return c
}

func TestRecheckEstablished(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	got := echoServer(t, n, vEcho)
	a, b := openEcho(t, n, got, "c", "i"), openEcho(t, n, got, "c", "i")
	defer a.Close()
	defer b.Close()
	if st := n.Stats(); st.Live != 2 {
		t.Errorf("live = %d", st.Live)
	}
	if k := n.Recheck(); k != 0 {
		t.Errorf("recheck changed %d allowed flows", k)
	}

	// The address gets blocked by silent drop: both live flows go quiet.
	d.connect[vEcho] = censor.Verdict{Action: censor.Drop}
	if k := n.Recheck(); k != 2 {
		t.Errorf("recheck changed %d, want 2", k)
	}
	if k, err := a.Write([]byte("more")); err != nil || k != 4 {
		t.Errorf("write on dropped flow = %d, %v", k, err)
	}
	a.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if _, err := a.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read on dropped flow: %v", err)
	}

	// A later reset verdict does not unblock, and does not change a dropped flow.
	d.connect[vEcho] = censor.Verdict{}
	if k := n.Recheck(); k != 0 {
		t.Errorf("recheck unblocked %d flows", k)
	}
	if st := n.Stats(); st.Recheck["drop"] != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRecheckReset(t *testing.T) {
	d := newFake()
	n := newNet(t, d)
	got := echoServer(t, n, vEcho)
	c, err := n.Dialer("c", "i")(context.Background(), "tcp", vEcho.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	io.ReadFull(c, make([]byte, 1))
	<-got
	// A reader blocked on the live flow is woken by the reset.
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	time.Sleep(20 * time.Millisecond)
	d.connect[vEcho] = censor.Verdict{Action: censor.BlockPage} // mid-stream: a reset
	if k := n.Recheck(); k != 1 {
		t.Fatalf("recheck changed %d", k)
	}
	select {
	case err := <-done:
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("blocked reader got %v, want ECONNRESET", err)
		}
	case <-time.After(patience):
		t.Fatal("reader not woken by reset")
	}
	if _, err := c.Write([]byte("y")); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("write after reset: %v", err)
	}
	c.Close()
	if st := n.Stats(); st.Live != 0 || st.Recheck["reset"] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRecheckReportsCuts(t *testing.T) {
	d := newFake()
	var cuts []Cut
	n := New(d, Options{DropTimeout: 300 * time.Millisecond, OnCut: func(c Cut) { cuts = append(cuts, c) }})
	t.Cleanup(func() { n.Close() })
	got := echoServer(t, n, vEcho)
	a, b := openEcho(t, n, got, "alice", "isp1"), openEcho(t, n, got, "bob", "isp2")
	defer a.Close()
	defer b.Close()

	// Throttling is not a cut.
	d.connect[vEcho] = censor.Verdict{Action: censor.Throttle, RateBytesPerSec: 1000}
	if k := n.Recheck(); k != 2 || len(cuts) != 0 {
		t.Fatalf("throttle: changed %d, cuts %+v", k, cuts)
	}
	d.connect[vEcho] = censor.Verdict{Action: censor.Drop}
	if k := n.Recheck(); k != 2 {
		t.Fatalf("drop: changed %d", k)
	}
	if len(cuts) != 2 {
		t.Fatalf("cuts = %+v", cuts)
	}
	seen := map[string]string{}
	for _, c := range cuts {
		if c.Dst != vEcho || c.Action != censor.Drop {
			t.Errorf("cut = %+v", c)
		}
		seen[c.Client] = c.ISP
	}
	if seen["alice"] != "isp1" || seen["bob"] != "isp2" {
		t.Errorf("cuts by client = %v", seen)
	}
	// A flow already cut is not reported again.
	if n.Recheck(); len(cuts) != 2 {
		t.Errorf("cut reported twice: %+v", cuts)
	}
}

// A flow dialled with DialerAt measures the censor of its own lab time:
// Recheck at a later network time, when the address is listed, leaves it
// alone, while a flow dialled at the network's time is cut.
func TestRecheckPinnedFlow(t *testing.T) {
	cen, err := censor.New(censor.Config{ISPs: []censor.ISP{{Name: "i", Compliance: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := censor.Time(0)
	n := New(cen, Options{Now: func() censor.Time { mu.Lock(); defer mu.Unlock(); return now }})
	t.Cleanup(func() { n.Close() })
	got := echoServer(t, n, vEcho)
	pinned, err := n.DialerAt("probe", "i", 0)(context.Background(), "tcp", vEcho.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	pinned.Write([]byte("ping"))
	if _, err := io.ReadFull(pinned, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	<-got
	live := openEcho(t, n, got, "c", "i")
	defer live.Close()
	if err := cen.List(censor.IPEntry(vEcho.Addr(), time.Hour, "regulator")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = 2 * time.Hour
	mu.Unlock()
	if k := n.Recheck(); k != 1 {
		t.Errorf("recheck changed %d flows, want only the unpinned one", k)
	}
	if pinned.(*flowConn).censored() || !live.(*flowConn).censored() {
		t.Errorf("pinned censored %v, live censored %v; want false, true",
			pinned.(*flowConn).censored(), live.(*flowConn).censored())
	}
}
