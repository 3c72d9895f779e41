package vnet

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"samizdat/censor"
)

// TestWithCensor runs the real censor model behind the virtual network.
func TestWithCensor(t *testing.T) {
	vOther := netip.MustParseAddrPort("52.28.10.40:443")
	cz, err := censor.New(censor.Config{
		Seed:             1,
		Hour:             time.Second,
		RegistryInterval: 100 * time.Millisecond,
		ISPs: []censor.ISP{
			{Name: "rst", Compliance: 1, Method: censor.MethodReset, DPI: true},
			{Name: "none", Compliance: 0, Method: censor.MethodDrop},
		},
		Initial: []censor.Entry{
			{Kind: censor.KindIP, Prefix: netip.PrefixFrom(vEcho.Addr(), 32), Reason: "regulator"},
			{Kind: censor.KindSNI, Name: "t.me", Reason: "regulator"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var now atomic.Int64
	n := New(cz, Options{Now: func() censor.Time { return censor.Time(now.Load()) }})
	defer n.Close()
	echoServer(t, n, vEcho)
	echoServer(t, n, vOther)
	now.Store(int64(10 * time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()

	if _, err := n.Dialer("c", "rst")(ctx, "tcp", vEcho.String()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("listed address via rst: %v, want refused", err)
	}
	c, err := n.Dialer("c", "none")(ctx, "tcp", vEcho.String())
	if err != nil {
		t.Errorf("listed address via a non-complying isp: %v", err)
	} else {
		c.Close()
	}
	c, err = n.Dialer("c", "rst")(ctx, "tcp", vOther.String())
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: "t.me", InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(patience))
	if err := tc.Handshake(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("sni t.me via dpi isp: %v, want reset", err)
	}
	tc.Close()
	if st := n.Stats(); st.Connect["reset"] != 1 || st.Inspect["reset"] != 1 || st.Violations != 0 {
		t.Errorf("stats = %+v", st)
	}
}
