package relay

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

// An error logged above debug level never names the client's address.
func TestWithoutAddresses(t *testing.T) {
	client := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 51234}
	relay := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7443}
	err := fmt.Errorf("noisechan: %w", &net.OpError{Op: "read", Net: "tcp", Source: relay, Addr: client, Err: syscall.EIO})
	if !strings.Contains(err.Error(), "203.0.113.9") {
		t.Fatalf("the test error has no address to drop: %v", err)
	}
	got := withoutAddresses(err)
	if s := got.Error(); strings.Contains(s, "203.0.113.9") || strings.Contains(s, "127.0.0.1") || s != "read: input/output error" {
		t.Fatalf("withoutAddresses: %q", s)
	}
	if !errors.Is(got, syscall.EIO) {
		t.Fatal("the cause was lost")
	}
	plain := errors.New("no address here")
	if withoutAddresses(plain) != plain {
		t.Fatal("an error without addresses changed")
	}
}
