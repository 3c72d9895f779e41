package client

import (
	"context"
	"fmt"

	"samizdat/client/clientdb"
	"samizdat/client/group"
	"samizdat/username"
)

// ErrNameTaken means a local name is in use already: our own username, a
// contact's (or that of someone who wrote to us), a group's or a channel's.
// Contacts, groups and channels share one namespace in a home, so that
// `send NAME` and `chat NAME` mean one thing.
var ErrNameTaken = clientdb.ErrNameTaken

// LocalNameTaken reports whether name already names something of this
// home: ourselves, a contact, a group or a channel.
func (c *Client) LocalNameTaken(ctx context.Context, name string) (bool, error) {
	return c.nameTaken(ctx, c.db.Store(), name, nil)
}

// nameTaken is LocalNameTaken through s; the group except (nil: none)
// does not count, so that a group may keep its own name.
func (c *Client) nameTaken(ctx context.Context, s *clientdb.Store, name string, except *group.ID) (bool, error) {
	if name == c.username {
		return true, nil
	}
	var ex []byte
	if except != nil {
		ex = except[:]
	}
	return s.NameTaken(ctx, name, ex)
}

// freeName returns name, or name with -2, -3, ... appended (cut to stay
// within maxLocalName), whichever this home does not use first (the group
// except does not count).
func (c *Client) freeName(ctx context.Context, s *clientdb.Store, name string, except *group.ID) (string, error) {
	for i := 1; ; i++ {
		cand := name
		if i > 1 {
			suffix := fmt.Sprintf("-%d", i)
			cand = name[:min(len(name), maxLocalName-len(suffix))] + suffix
		}
		taken, err := c.nameTaken(ctx, s, cand, except)
		if err != nil || !taken {
			return cand, err
		}
	}
}

// maxLocalName is the longest group or channel name (one rule for both:
// username.CheckLocal).
const maxLocalName = username.MaxLocal
