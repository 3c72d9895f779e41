// Package batch places the rows of a batched account lookup
// (relay.AccountsBatch) at the positions of the ids asked for, for the SQL
// stores.
package batch

import (
	"bytes"

	"samizdat/relay"
)

// Accounts gathers the answer to AccountsDevices(ids): Account and then
// Device for each row read, Out at the end. An id asked for more than once
// gets an entry at each of its positions.
type Accounts struct {
	out  []relay.AccountDevices
	at   map[relay.AccountID][]int // the positions of each id in ids
	uniq []relay.AccountID         // each id of ids once, in order
}

// New returns Accounts for ids, every entry not found yet.
func New(ids []relay.AccountID) *Accounts {
	b := &Accounts{out: make([]relay.AccountDevices, len(ids)), at: make(map[relay.AccountID][]int, len(ids))}
	for i, id := range ids {
		if _, seen := b.at[id]; !seen {
			b.uniq = append(b.uniq, id)
		}
		b.at[id] = append(b.at[id], i)
	}
	return b
}

// IDs returns each id asked for once: the ids to read, each account (and
// its devices) to be recorded once.
func (b *Accounts) IDs() []relay.AccountID { return b.uniq }

// Account records an account read; the entries of a repeated id share no
// bytes.
func (b *Accounts) Account(a relay.Account) {
	for n, i := range b.at[a.ID] {
		if n > 0 {
			a.IdentityKey, a.UnidentifiedAccessKey = bytes.Clone(a.IdentityKey), bytes.Clone(a.UnidentifiedAccessKey)
		}
		b.out[i].Account, b.out[i].Found = a, true
	}
}

// Device appends a device read to its account's entries, if Account found
// that account; devices must come in order of ID.
func (b *Accounts) Device(d relay.Device) {
	for _, i := range b.at[d.Account] {
		if b.out[i].Found {
			b.out[i].Devices = append(b.out[i].Devices, d)
		}
	}
}

// Out returns the entries, one per id asked for.
func (b *Accounts) Out() []relay.AccountDevices { return b.out }
