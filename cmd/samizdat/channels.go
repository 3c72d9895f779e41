package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"samizdat/broadcast"
	"samizdat/client"
)

const channelAbout = `Broadcast channels: you post, subscribers read. A post is stored once on the relay,
encrypted under a key only the channel's join code carries and signed by the admin key:
the relay cannot read posts and never learns a channel's name. Readers show it the
channel's read token (the same for every reader) on the connection they receive on.
Subscribers see the posts from when they joined on, with 'samizdat recv' (as
#CHANNEL: TEXT). A channel's name is yours alone, in one namespace with your contacts.`

var channelSubcommands = []subcommand{
	{name: "create", summary: "create CHANNEL; prints its join code on the last line", run: runChannelCreate},
	{name: "join", summary: "join the channel of CODE (as --name CHANNEL, else the name in the code)", run: runChannelJoin},
	{name: "post", summary: "post TEXT to CHANNEL (admins only); exits 0 once the relay stored it", run: runChannelPost},
	{name: "admin", summary: "make the user NAME an admin of CHANNEL (sends them its admin key end to end)", run: runChannelAdmin},
	{name: "leave", summary: "leave CHANNEL: forget its keys and posts", run: runChannelLeave},
	{name: "list", summary: "list the channels you joined", run: runChannelList},
}

func runChannel(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, "channel", channelAbout, e, args, channelSubcommands)
}

// channelName checks a CHANNEL argument as usage does.
func channelName(f *cmdFlags, name string) error {
	if !broadcast.ValidName(name) {
		return f.usagef("%q is not a channel name: 1-32 of a-z 0-9 _ . - (no / or #)", name)
	}
	return nil
}

// channelErr adds a hint to the errors a user can act on.
func channelErr(err error, name string) error {
	switch {
	case errors.Is(err, client.ErrNameTaken):
		return fmt.Errorf("the name %q is taken by you, a contact, a group or a channel\nhint: choose another name", name)
	case errors.Is(err, client.ErrNoSuchChannel) && !strings.Contains(err.Error(), "relay"):
		return fmt.Errorf("you joined no channel named %q\nhint: 'samizdat channel list' lists yours", name)
	case errors.Is(err, client.ErrNotChannelAdmin):
		return fmt.Errorf("you are not an admin of %q: only admins post\nhint: an admin makes you one with 'samizdat channel admin %s YOURNAME'", name, name)
	}
	return err
}

// openChannelCmd parses a command whose first argument is a CHANNEL (need
// says what it takes, for the error; it takes from n to max arguments, max
// < 0 for no bound) and opens the client.
func openChannelCmd(ctx context.Context, e *env, f *cmdFlags, args []string, need string, n, max int) ([]string, *client.Client, func(), error) {
	f.homeFlag(e)
	pos, err := f.parse(args)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(pos) < n || max >= 0 && len(pos) > max {
		return nil, nil, nil, f.usagef("need %s", need)
	}
	if err := channelName(f, pos[0]); err != nil {
		return nil, nil, nil, err
	}
	if len(pos) > 1 && strings.TrimSpace(strings.Join(pos[1:], " ")) == "" {
		return nil, nil, nil, f.usagef("need %s", need)
	}
	c, release, err := openClient(ctx, e, nil)
	return pos, c, release, err
}

func runChannelCreate(ctx context.Context, e *env, args []string) error {
	f := newFlags("channel create", "CHANNEL", `Create a broadcast channel named CHANNEL, of which you are the admin, and print its
join code on the last line. Whoever has the code can read the channel: hand it to your
subscribers. It does not let them post.`)
	pos, c, release, err := openChannelCmd(ctx, e, f, args, "one CHANNEL", 1, 1)
	if err != nil {
		return err
	}
	defer release()
	code, err := c.CreateChannel(ctx, pos[0])
	if err != nil {
		return channelErr(err, pos[0])
	}
	fmt.Fprintf(e.stdout, "created channel %s; its join code (whoever holds it reads the channel):\n%s\n", pos[0], code)
	return nil
}

func runChannelJoin(ctx context.Context, e *env, args []string) error {
	f := newFlags("channel join", "CODE", `Join the channel of the join CODE. Its posts from now on show in 'samizdat recv' as
#CHANNEL: TEXT. CHANNEL is the name its creator gave it unless --name says otherwise.`)
	f.homeFlag(e)
	name := f.String("name", "", "call the channel `CHANNEL` here")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.usagef("need one CODE")
	}
	if *name != "" {
		if err := channelName(f, *name); err != nil {
			return err
		}
	}
	c, release, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer release()
	joined, err := c.JoinChannel(ctx, pos[0], *name)
	switch {
	case errors.Is(err, broadcast.ErrBadCode):
		return fmt.Errorf("%w\nhint: paste the whole code, one line starting with szch1", err)
	case errors.Is(err, client.ErrOtherNetwork):
		return fmt.Errorf("%w\nhint: the code's channel lives on a network this home is not on", err)
	case errors.Is(err, client.ErrNameTaken):
		return channelErr(err, cmp.Or(*name, "the code's name"))
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "joined #%s\n", joined)
	return nil
}

func runChannelPost(ctx context.Context, e *env, args []string) error {
	f := newFlags("channel post", "CHANNEL TEXT...", `Post TEXT to CHANNEL, which you are an admin of. It exits 0 once the relay has stored
the post (once, however many subscribers read it); otherwise 1 with the reason.`)
	pos, c, release, err := openChannelCmd(ctx, e, f, args, "CHANNEL and TEXT", 2, -1)
	if err != nil {
		return err
	}
	defer release()
	name, text := pos[0], strings.Join(pos[1:], " ")
	if len(text) > broadcast.MaxText {
		return f.usagef("a post holds at most %d bytes", broadcast.MaxText)
	}
	return channelErr(c.PostToChannel(ctx, name, text), name)
}

func runChannelAdmin(ctx context.Context, e *env, args []string) error {
	f := newFlags("channel admin", "CHANNEL NAME", `Make the user NAME an admin of CHANNEL: send them its admin key, end to end like a
message. They take it if they accepted you (wrote to you, or ran 'samizdat accept').
An admin can post and make others admins; this cannot be taken back.`)
	pos, c, release, err := openChannelCmd(ctx, e, f, args, "CHANNEL and NAME", 2, 2)
	if err != nil {
		return err
	}
	defer release()
	err = c.GrantChannelAdmin(ctx, pos[0], pos[1])
	if errors.Is(err, client.ErrNoSuchUser) {
		return fmt.Errorf("no user named %q on this relay", client.NormalizeUsername(pos[1]))
	}
	return channelErr(err, pos[0])
}

func runChannelLeave(ctx context.Context, e *env, args []string) error {
	f := newFlags("channel leave", "CHANNEL", `Leave CHANNEL: forget its keys and the posts read. Nothing goes to the relay.`)
	pos, c, release, err := openChannelCmd(ctx, e, f, args, "one CHANNEL", 1, 1)
	if err != nil {
		return err
	}
	defer release()
	return channelErr(c.LeaveChannel(ctx, pos[0]), pos[0])
}

func runChannelList(ctx context.Context, e *env, args []string) error {
	f := newFlags("channel list", "", `List the channels you joined, one per line: the name, and "(admin)" where you may post.`)
	c, release, err := openNoArgs(ctx, e, f, args)
	if err != nil {
		return err
	}
	defer release()
	chs, err := c.Channels(ctx)
	if err != nil {
		return err
	}
	for _, ch := range chs {
		if ch.Admin {
			fmt.Fprintf(e.stdout, "%s (admin)\n", ch.Name)
		} else {
			fmt.Fprintln(e.stdout, ch.Name)
		}
	}
	return nil
}
