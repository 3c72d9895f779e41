package main

import (
	"testing"
	"time"

	"samizdat/client"
)

// TestFormatDevice pins the contract of devices list: "ID NAME last-seen",
// with "-" for a missing name, "now" for this device and "never" for a device
// the relay has not seen connect.
func TestFormatDevice(t *testing.T) {
	day := time.Date(2026, 12, 8, 23, 30, 0, 0, time.FixedZone("east", 5*3600))
	for _, tc := range []struct {
		d    client.Device
		want string
	}{
		{client.Device{ID: 1, Name: "laptop", LastSeen: day}, "1 laptop 2026-12-08"},
		{client.Device{ID: 2, Name: "bob's phone", LastSeen: day, Current: true}, "2 bob's phone now"},
		{client.Device{ID: 3, Current: true}, "3 - now"},
		{client.Device{ID: 4, Name: " \t"}, "4 - never"},
		{client.Device{ID: 5, Name: "two\nlines", LastSeen: day}, "5 two lines 2026-12-08"},
	} {
		if got := formatDevice(tc.d); got != tc.want {
			t.Errorf("formatDevice(%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
