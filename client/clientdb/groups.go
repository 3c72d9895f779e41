package clientdb

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// groupPeerPrefix starts the peer of a group's history and outbox rows:
// no username contains ':'.
const groupPeerPrefix = "group:"

// GroupPeer is the peer under which a group's history and outbox rows are
// kept.
func GroupPeer(id [32]byte) string { return groupPeerPrefix + hex.EncodeToString(id[:]) }

// ParseGroupPeer returns the group of a GroupPeer, or false.
func ParseGroupPeer(peer string) ([32]byte, bool) {
	var id [32]byte
	if len(peer) != len(groupPeerPrefix)+64 || peer[:len(groupPeerPrefix)] != groupPeerPrefix {
		return id, false
	}
	b, err := hex.DecodeString(peer[len(groupPeerPrefix):])
	if err != nil {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

// Group is a group this device knows: its local name (unique among the
// home's groups), whether we are still a member, and what the user decided
// about it (a group request, see GroupRequests). Its membership is the
// chain of signed changes (GroupChanges).
type Group struct {
	ID     [32]byte
	Name   string
	Member bool
	// State is PeerAccepted, PeerPending (a stranger added us: a group
	// request) or PeerBlocked, kept in peer_state under GroupPeer(ID);
	// a group without a row there (one we created, or joined through an
	// accepted contact) is accepted. PutGroup does not write it.
	State int
}

// groupSelect reads a group's columns, its state from peer_state.
// (1 is PeerAccepted.)
const groupSelect = `SELECT g.id, g.name, g.member, COALESCE(p.state, 1) FROM groups g
	LEFT JOIN peer_state p ON p.peer = '` + groupPeerPrefix + `' || lower(hex(g.id)) `

// PutGroup inserts or updates a group.
func (s *Store) PutGroup(ctx context.Context, g Group) error {
	return s.exec(ctx, "put group", `INSERT INTO groups (id, name, member) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, member = excluded.member`, g.ID[:], g.Name, g.Member)
}

// Group returns the group with the id, or ErrNotFound.
func (s *Store) Group(ctx context.Context, id [32]byte) (Group, error) {
	return s.group(ctx, `WHERE g.id = ?`, id[:])
}

// GroupByName returns the group with the local name, or ErrNotFound.
func (s *Store) GroupByName(ctx context.Context, name string) (Group, error) {
	return s.group(ctx, `WHERE g.name = ?`, name)
}

func (s *Store) group(ctx context.Context, where string, arg any) (Group, error) {
	var g Group
	var id []byte
	err := s.q.QueryRowContext(ctx, groupSelect+where, arg).Scan(&id, &g.Name, &g.Member, &g.State)
	if errors.Is(err, sql.ErrNoRows) {
		return g, ErrNotFound
	}
	if err != nil {
		return g, fmt.Errorf("clientdb: group: %w", err)
	}
	copy(g.ID[:], id)
	return g, nil
}

// Groups lists the groups by name.
func (s *Store) Groups(ctx context.Context) ([]Group, error) {
	rows, err := s.q.QueryContext(ctx, groupSelect+`ORDER BY g.name`)
	if err != nil {
		return nil, fmt.Errorf("clientdb: groups: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var g Group
		var id []byte
		if err := rows.Scan(&id, &g.Name, &g.Member, &g.State); err != nil {
			return nil, fmt.Errorf("clientdb: groups: %w", err)
		}
		copy(g.ID[:], id)
		out = append(out, g)
	}
	return out, rows.Err()
}

// GroupRequests lists the groups we are a member of that are pending (a
// stranger added us and the user has not accepted the group), by name,
// each with the account that added us.
func (s *Store) GroupRequests(ctx context.Context) (groups []Group, inviters [][16]byte, err error) {
	rows, err := s.q.QueryContext(ctx, `SELECT g.id, g.name, p.account_id FROM groups g
		JOIN peer_state p ON p.peer = '`+groupPeerPrefix+`' || lower(hex(g.id))
		WHERE g.member AND p.state = ? ORDER BY g.name`, PeerPending)
	if err != nil {
		return nil, nil, fmt.Errorf("clientdb: group requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		g := Group{Member: true, State: PeerPending}
		var id, by []byte
		if err := rows.Scan(&id, &g.Name, &by); err != nil {
			return nil, nil, fmt.Errorf("clientdb: group requests: %w", err)
		}
		copy(g.ID[:], id)
		var inviter [16]byte
		copy(inviter[:], by)
		groups, inviters = append(groups, g), append(inviters, inviter)
	}
	return groups, inviters, rows.Err()
}

// AddGroupChange records the signed change that made a group's revision.
func (s *Store) AddGroupChange(ctx context.Context, id [32]byte, revision uint64, change []byte) error {
	return s.exec(ctx, "add group change", `INSERT INTO group_changes (group_id, revision, change) VALUES (?, ?, ?)`, id[:], revision, change)
}

// GroupChanges returns a group's signed changes from revision from on,
// oldest first.
func (s *Store) GroupChanges(ctx context.Context, id [32]byte, from uint64) ([][]byte, error) {
	return s.blobs(ctx, "group changes", `SELECT change FROM group_changes WHERE group_id = ? AND revision >= ? ORDER BY revision`, id[:], from)
}

// GroupRevision returns a group's newest revision (0 for none).
func (s *Store) GroupRevision(ctx context.Context, id [32]byte) (uint64, error) {
	var rev uint64
	err := s.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(revision), 0) FROM group_changes WHERE group_id = ?`, id[:]).Scan(&rev)
	if err != nil {
		return 0, fmt.Errorf("clientdb: group revision: %w", err)
	}
	return rev, nil
}

// GroupKeysSent lists, per account, the devices that were sent our sender
// key chain for the group: GroupKeySent for every member in one read.
func (s *Store) GroupKeysSent(ctx context.Context, id [32]byte, chain uint32) (map[[16]byte][]uint32, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT account, device FROM group_keys_sent WHERE group_id = ? AND chain = ? ORDER BY account, device`,
		id[:], chain)
	if err != nil {
		return nil, fmt.Errorf("clientdb: group keys sent: %w", err)
	}
	defer rows.Close()
	out := make(map[[16]byte][]uint32)
	for rows.Next() {
		var acct []byte
		var d uint32
		if err := rows.Scan(&acct, &d); err != nil {
			return nil, fmt.Errorf("clientdb: group keys sent: %w", err)
		}
		if len(acct) != 16 {
			return nil, errors.New("clientdb: group keys sent: malformed account")
		}
		k := [16]byte(acct)
		out[k] = append(out[k], d)
	}
	return out, rows.Err()
}

// MarkGroupKeySent records that devices of account were sent our sender
// key chain for the group.
func (s *Store) MarkGroupKeySent(ctx context.Context, id [32]byte, chain uint32, account [16]byte, devices []uint32) error {
	for _, d := range devices {
		if err := s.exec(ctx, "mark group key sent", `INSERT OR IGNORE INTO group_keys_sent (group_id, chain, account, device) VALUES (?, ?, ?, ?)`,
			id[:], chain, account[:], d); err != nil {
			return err
		}
	}
	return nil
}

// ForgetGroupKeysSent forgets to whom our sender keys for the group went
// (after a rotation nobody holds the new chain).
func (s *Store) ForgetGroupKeysSent(ctx context.Context, id [32]byte) error {
	return s.exec(ctx, "forget group keys sent", `DELETE FROM group_keys_sent WHERE group_id = ?`, id[:])
}
