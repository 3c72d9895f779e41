package main

import (
	"context"
	"fmt"
	"time"

	"samizdat/manifest"
)

func runInvite(ctx context.Context, e *env, args []string) error {
	f := newFlags("invite", "[--out FILE]", `Make a personal invite for someone you trust: the manifest of your cohort and a token
the relay seals for you. Whoever joins with it (samizdat init --invite FILE) is placed in
your cohort: the people you invite share your addresses, and an account that the censor
runs can burn only the cohort of the people who invited it. The relay limits how many
invites you make (5 a day by default) and refuses an invite after 14 days, or once the
device that made it is removed. Without --out the invite goes to standard output.`)
	out := f.String("out", "", "write the invite to `FILE` instead of standard output")
	c, release, err := openNoArgs(ctx, e, f, args)
	if err != nil {
		return err
	}
	defer release()
	inv, expires, err := c.Invite(ctx)
	if err != nil {
		return fmt.Errorf("no invite made: %w", err)
	}
	if *out == "" {
		text, err := manifest.MarshalInvite(inv)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(text)
		return err
	}
	if err := manifest.WriteInvite(e.path(*out), inv); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote a personal invite to %s; it is valid until %s\n", *out, expires.UTC().Format(time.DateOnly))
	return nil
}
