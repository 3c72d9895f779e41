package main

import (
	"context"
	"errors"
	"fmt"

	"samizdat/client"
	"samizdat/client/group"
)

// groupSubcommands are the operations of 'samizdat group'.
var groupSubcommands = []subcommand{
	{name: "create", summary: "create GROUP with you as its admin and the users MEMBER...", run: runGroupCreate},
	{name: "add", summary: "add users to GROUP (admins only)", run: runGroupAdd},
	{name: "remove", summary: "remove members from GROUP (admins only)", run: runGroupRemove},
	{name: "leave", summary: "leave GROUP", run: runGroupLeave},
	{name: "rename", summary: "rename GROUP for every member (admins only)", run: runGroupRename},
	{name: "admin", summary: "make a member an admin of GROUP (admins only)", run: runGroupAdmin},
	{name: "list", summary: "list your groups: GROUP N members", run: runGroupList},
	{name: "members", summary: "list GROUP's members, admins marked (admin)", run: runGroupMembers},
}

const groupAbout = `Private groups: end-to-end encrypted, and the relay never learns a group's name or its
members. Send to a group with 'samizdat send GROUP TEXT' or 'samizdat chat GROUP'; recv
prints its messages as GROUP/SENDER: TEXT and its changes as GROUP: * SENDER added NAME.
A group name is 1-32 of a-z 0-9 _ . - and shares one namespace with your contacts.`

func runGroup(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, "group", groupAbout, e, args, groupSubcommands)
}

// groupArgs parses a group subcommand's arguments: GROUP (checked as a
// group name) and at least min more.
func groupArgs(e *env, f *cmdFlags, args []string, min int, what string) (string, []string, error) {
	f.homeFlag(e)
	pos, err := f.parse(args)
	if err != nil {
		return "", nil, err
	}
	if len(pos) < 1+min {
		return "", nil, f.usagef("need %s", what)
	}
	if err := group.ValidName(pos[0]); err != nil {
		return "", nil, f.usagef("%q: %v", pos[0], err)
	}
	return pos[0], pos[1:], nil
}

// groupError turns a client error about a group into what the user reads.
func groupError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrNoSuchGroup):
		return fmt.Errorf("no group named %q\nhint: 'samizdat group list' lists yours", name)
	case errors.Is(err, client.ErrNotMember):
		return fmt.Errorf("you are no longer a member of %s", name)
	case errors.Is(err, client.ErrNameTaken):
		return fmt.Errorf("%w\nhint: a group's name must differ from your own, your contacts', your other groups' and your channels'", err)
	case errors.Is(err, client.ErrNoSuchUser):
		return fmt.Errorf("%w\nhint: check the spelling", err)
	case errors.Is(err, group.ErrRefused):
		return fmt.Errorf("refused: %w", err)
	}
	return err
}

// groupChange runs one membership change on the client.
func groupChange(ctx context.Context, e *env, name string, do func(*client.Client) error) error {
	c, release, err := openClient(ctx, e, warnEvents(e))
	if err != nil {
		return err
	}
	defer release()
	return groupError(name, do(c))
}

func runGroupCreate(ctx context.Context, e *env, args []string) error {
	f := newFlags("group create", "GROUP MEMBER...", `Create GROUP with you as its admin and the users MEMBER... as its members, and tell
them; it exits 0 once the relay has stored what goes to each. GROUP must not be the name
of a contact or of another group of yours.`)
	name, members, err := groupArgs(e, f, args, 1, "GROUP and at least one MEMBER")
	if err != nil {
		return err
	}
	return groupChange(ctx, e, name, func(c *client.Client) error {
		_, err := c.CreateGroup(ctx, name, members)
		return err
	})
}

func runGroupAdd(ctx context.Context, e *env, args []string) error {
	f := newFlags("group add", "GROUP MEMBER...", "Add the users MEMBER... to GROUP. Only its admins may.")
	name, members, err := groupArgs(e, f, args, 1, "GROUP and at least one MEMBER")
	if err != nil {
		return err
	}
	return groupChange(ctx, e, name, func(c *client.Client) error { return c.AddToGroup(ctx, name, members) })
}

func runGroupRemove(ctx context.Context, e *env, args []string) error {
	f := newFlags("group remove", "GROUP MEMBER...", `Remove MEMBER... from GROUP. Only its admins may. Every remaining member moves to a new
key, so those removed cannot read what is sent from then on.`)
	name, members, err := groupArgs(e, f, args, 1, "GROUP and at least one MEMBER")
	if err != nil {
		return err
	}
	return groupChange(ctx, e, name, func(c *client.Client) error { return c.RemoveFromGroup(ctx, name, members) })
}

func runGroupLeave(ctx context.Context, e *env, args []string) error {
	f := newFlags("group leave", "GROUP", "Leave GROUP. Its history stays here.")
	name, rest, err := groupArgs(e, f, args, 0, "GROUP")
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return f.usagef("unexpected argument %q", rest[0])
	}
	return groupChange(ctx, e, name, func(c *client.Client) error { return c.LeaveGroup(ctx, name) })
}

func runGroupRename(ctx context.Context, e *env, args []string) error {
	f := newFlags("group rename", "GROUP NEWNAME", "Rename GROUP to NEWNAME for every member. Only its admins may.")
	name, rest, err := groupArgs(e, f, args, 1, "GROUP and NEWNAME")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return f.usagef("need GROUP and NEWNAME")
	}
	if err := group.ValidName(rest[0]); err != nil {
		return f.usagef("%q: %v", rest[0], err)
	}
	return groupChange(ctx, e, name, func(c *client.Client) error { return c.RenameGroup(ctx, name, rest[0]) })
}

func runGroupAdmin(ctx context.Context, e *env, args []string) error {
	f := newFlags("group admin", "GROUP MEMBER", "Make MEMBER an admin of GROUP: admins may add, remove and rename. Only admins may.")
	name, rest, err := groupArgs(e, f, args, 1, "GROUP and MEMBER")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return f.usagef("need GROUP and one MEMBER")
	}
	return groupChange(ctx, e, name, func(c *client.Client) error { return c.MakeGroupAdmin(ctx, name, rest[0]) })
}

func runGroupList(ctx context.Context, e *env, args []string) error {
	f := newFlags("group list", "", "List the groups you are a member of, one per line: GROUP N members (a group request or a blocked group is noted on stderr).")
	c, release, err := openNoArgs(ctx, e, f, args)
	if err != nil {
		return err
	}
	defer release()
	gs, err := c.Groups(ctx)
	if err != nil {
		return err
	}
	for _, g := range gs {
		// The line is the contract scripts read; a group request or a
		// blocked group is told on stderr, which they do not.
		if !g.Member {
			continue
		}
		fmt.Fprintf(e.stdout, "%s %d members\n", g.Name, len(g.Members))
		switch {
		case g.Request:
			fmt.Fprintf(e.stderr, "note: %s is a group request: see 'samizdat requests'\n", g.Name)
		case g.Blocked:
			fmt.Fprintf(e.stderr, "note: %s is blocked: its texts are dropped ('samizdat unblock %s')\n", g.Name, g.Name)
		}
	}
	return nil
}

func runGroupMembers(ctx context.Context, e *env, args []string) error {
	f := newFlags("group members", "GROUP", "List GROUP's members, one username per line, with (admin) after its admins.")
	name, rest, err := groupArgs(e, f, args, 0, "GROUP")
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return f.usagef("unexpected argument %q", rest[0])
	}
	c, release, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer release()
	g, err := c.GroupByName(ctx, name)
	if err != nil {
		return groupError(name, err)
	}
	for _, m := range g.Members {
		if m.Admin {
			fmt.Fprintf(e.stdout, "%s (admin)\n", m.Username)
		} else {
			fmt.Fprintln(e.stdout, m.Username)
		}
	}
	return nil
}
