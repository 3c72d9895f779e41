package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"samizdat/client"
)

func runTimer(ctx context.Context, e *env, args []string) error {
	f := newFlags("timer", "NAME [DURATION|off]", `Disappearing messages: set the timer of your conversation with NAME (30s, 5m, 1h, 1d,
1w, up to 4w; off turns it off), or print it. Every message of the conversation from
then on, yours and theirs, is deleted that long after each device stored it, on all
of your devices and all of theirs. The timer travels end to end: NAME and your other
devices learn it, the relay does not. Groups have no timer yet.`)
	f.homeFlag(e)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return f.usagef("need NAME, and a DURATION or off to set it")
	}
	var d time.Duration
	if len(pos) == 2 {
		if d, err = client.ParseTimer(pos[1]); err != nil {
			return f.usagef("%v", err)
		}
	}
	c, release, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer release()
	name := client.NormalizeUsername(pos[0])
	if len(pos) == 1 {
		cur, err := c.Timer(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: %s\n", name, client.FormatTimer(cur))
		return nil
	}
	switch err := c.SetTimer(ctx, name, d); {
	case errors.Is(err, client.ErrTimerGroup):
		return fmt.Errorf("%w\nhint: a group's texts are not under a timer", err)
	case errors.Is(err, client.ErrNoSuchUser):
		return fmt.Errorf("no user named %q; nothing changed", name)
	case err != nil:
		return fmt.Errorf("the timer is set here but not yet told: %w\nhint: it goes with your next send, recv or chat", err)
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", name, client.FormatTimer(d))
	return nil
}

// timerLine is how recv and chat show a timer change.
func timerLine(ev client.Event) string {
	if ev.Text == "off" {
		return fmt.Sprintf("%s: * disappearing messages off", ev.Peer)
	}
	return fmt.Sprintf("%s: * messages disappear after %s", ev.Peer, ev.Text)
}
