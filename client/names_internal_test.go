package client

import (
	"testing"

	"samizdat/broadcast"
	"samizdat/client/group"
)

// Groups and channels share one namespace, so they share one length rule.
func TestLocalNamesOneLength(t *testing.T) {
	if group.MaxName != broadcast.MaxName || maxLocalName != group.MaxName {
		t.Fatalf("group names up to %d bytes, channel names up to %d, free names cut to %d", group.MaxName, broadcast.MaxName, maxLocalName)
	}
}
