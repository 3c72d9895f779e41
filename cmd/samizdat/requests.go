package main

import (
	"context"
	"errors"
	"fmt"

	"samizdat/client"
)

// Message requests: a stranger's messages are shown, but until the user
// accepts them (or writes to them) they get nothing back.

func runRequests(ctx context.Context, e *env, args []string) error {
	f := newFlags("requests", "", `List the people who wrote to you and whom you have not accepted: message requests.
Their messages are shown, but they get no delivery receipts, no access key for sealed
sender and no bridge offer until you write to them, reply, or run 'samizdat accept NAME'.
'samizdat block NAME' drops their messages instead. Below them, the groups a stranger added
you to, as "GROUP (group; NAME added you)": their texts are shown, and nothing goes to their
members until you accept the group ('samizdat accept GROUP') or write to it; 'samizdat block
GROUP' drops its texts, 'samizdat group leave GROUP' leaves it.`)
	c, release, err := openNoArgs(ctx, e, f, args)
	if err != nil {
		return err
	}
	defer release()
	names, err := c.Requests(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintln(e.stdout, n)
	}
	groups, err := c.GroupRequests(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		by := g.Inviter
		if by == "" {
			by = "someone"
		}
		fmt.Fprintf(e.stdout, "%s (group; %s added you)\n", g.Group, by)
	}
	return nil
}

// peerCommand is a command that takes one NAME and applies do to it.
type peerCommand struct {
	name, help, done string
	do               func(*client.Client, context.Context, string) error
	flush            bool // send the outbox after (what do queued)
	// after, if set, runs once do succeeded.
	after func(context.Context, *env, *client.Client)
}

var peerCommands = []peerCommand{
	{"accept", `Accept NAME's message request: from now on they get delivery receipts (one goes at
once for what they sent you), your access key for sealed sender, and your bridge offers.
Writing to them or replying does the same. NAME may be a group a stranger added you to (see
'samizdat requests').`, "accepted %s\n", (*client.Client).Accept, true, nil},
	{"block", `Block NAME: their messages from now on are dropped unread (the relay is told they
arrived, nothing is stored or shown), and they get nothing from you: every bridge offer
they hold is taken back (your bridges refuse it, one run elsewhere as soon as it is told:
now, or with your next send or recv). Undo it with 'samizdat unblock NAME'.`, "blocked %s\n", (*client.Client).Block, false, tellBridges},
	{"unblock", `Unblock NAME: their messages are shown again, as a message request until you accept
them or write to them.`, "unblocked %s\n", (*client.Client).Unblock, false, nil},
}

func (p peerCommand) run(ctx context.Context, e *env, args []string) error {
	f := newFlags(p.name, "NAME", p.help)
	f.homeFlag(e)
	name, c, release, err := openOneName(ctx, e, f, args)
	if err != nil {
		return err
	}
	defer release()
	err = p.do(c, ctx, name)
	if errors.Is(err, client.ErrNoSuchUser) {
		return fmt.Errorf("no user named %q on this relay", name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, p.done, name)
	if p.after != nil {
		p.after(ctx, e, c)
	}
	if p.flush {
		if _, err := c.Flush(ctx); err != nil {
			fmt.Fprintf(e.stderr, "warning: %v; what is queued goes with your next send or recv\n", err)
		}
	}
	return nil
}

// tellBridges tells the user's bridges run elsewhere of a block at once
// (syncBridges warns about those it cannot reach).
func tellBridges(ctx context.Context, e *env, c *client.Client) {
	for _, r := range syncBridges(ctx, e, c) {
		if r.Err == nil && r.Denials {
			fmt.Fprintf(e.stdout, "the bridge %s at %s refuses their offer now\n", r.ID, r.Address)
		}
	}
}
