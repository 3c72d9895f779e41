package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/skip2/go-qrcode"
	"golang.org/x/term"

	"samizdat/client"
	"samizdat/manifest"
	"samizdat/provision"
)

func runLink(ctx context.Context, e *env, args []string) error {
	f := newFlags("link", "--invite FILE", `Make this home (new and empty) a new device of an account you have on another device,
on this machine or another. It reaches the relay with the invite (any invite of the
network), prints a pairing code alone on a line and waits up to 5 minutes for you to
run 'samizdat devices approve CODE' on a device of your account. That device hands over
the account's keys, contacts, message requests, groups, channels and the last 30 days of
history, end to end: the relay carries only ciphertext, and the code's secret never
reaches it. Exit 1 if no device approves in time, or if anything that does not
authenticate under the code arrives (then nothing is kept; link again for a new code).`)
	f.homeFlag(e)
	invite := f.String("invite", "", "an invite `FILE` of the network")
	devName := deviceNameFlag(f)
	wait := f.Duration("wait", client.LinkTimeout, "how long to wait for approval (at most 5m)")
	if err := f.noArgs(args); err != nil {
		return err
	}
	if *wait <= 0 || *wait > client.LinkTimeout {
		return f.usagef("--wait takes a duration up to %v", client.LinkTimeout)
	}
	if *invite == "" {
		return f.usagef("--invite FILE is required")
	}
	if err := checkDeviceName(f, *devName); err != nil {
		return err
	}
	inv, err := manifest.ReadInvite(e.path(*invite))
	if err != nil {
		return err
	}
	p, err := client.StartLink(ctx, client.Config{Home: e.home, DeviceName: *devName}, inv)
	if errors.Is(err, client.ErrAlreadyInitialized) {
		return fmt.Errorf("%s already holds an identity\nhint: link into a new, empty --home", e.home)
	}
	if err != nil {
		return err
	}
	defer p.Close()
	printQR(e.stderr, p.Code())
	fmt.Fprintf(e.stderr, "on a device of your account, within %v, run:\n  samizdat devices approve %s\n", *wait, p.Code())
	fmt.Fprintln(e.stdout, p.Code())
	c, err := p.Wait(ctx, *wait)
	switch {
	case errors.Is(err, client.ErrLinkTimeout):
		return fmt.Errorf("%w\nhint: run 'samizdat link' again for a new code", err)
	case errors.Is(err, provision.ErrAuth):
		return fmt.Errorf("%w\nhint: someone other than your device answered the pairing; nothing was kept. Link again for a new code", err)
	case err != nil:
		return err
	}
	defer c.Close()
	fmt.Fprintf(e.stdout, "linked device %d of %s; state in %s\n", c.DeviceID(), c.Username(), e.home)
	return nil
}

func runDevicesApprove(ctx context.Context, e *env, args []string) error {
	f := newFlags("devices approve", "CODE", `Link the new device that shows CODE ('samizdat link' on it) to your account: this device
checks the code against the pairing, hands over the account's keys and its state end to
end, and registers the new device with the relay. A code works once, for 5 minutes.`)
	f.homeFlag(e)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) < 1 {
		return f.usagef("need the CODE the new device shows")
	}
	code := ""
	for _, p := range pos {
		code += p // a code typed with spaces
	}
	if _, err := provision.ParseCode(code); err != nil {
		return f.usagef("%v", err)
	}
	c, release, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer release()
	id, err := c.ApproveLink(ctx, code)
	switch {
	case errors.Is(err, client.ErrNoPairing):
		return fmt.Errorf("%w\nhint: check the code, or run 'samizdat link' on the new device again for a new one", err)
	case errors.Is(err, provision.ErrMismatch):
		return fmt.Errorf("%w\nhint: check the code; nothing was sent", err)
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "linked device %d\n", id)
	return nil
}

// noReadReceiptsFlag adds --no-read-receipts to a command that shows
// messages.
func noReadReceiptsFlag(f *cmdFlags) *bool {
	return f.Bool("no-read-receipts", false, "mark shown messages read on your devices without sending their senders a read receipt (none go to message requests anyway)")
}

// printQR draws text as a QR code on w when w is a terminal, for a phone's
// camera to read the code off the screen.
func printQR(w io.Writer, text string) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return
	}
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return
	}
	fmt.Fprint(w, q.ToSmallString(false))
}
