package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"samizdat/client"
)

const devicesAbout = `List your account's devices, approve a new one, or remove one. Device 1, the primary (the one that ran
init), removes the others, as Signal's primary unlinks linked devices: a removed device
gets nothing more and is refused by the relay for good, its slot frees, your other
devices are told, and your contacts stop encrypting for it at their next message.`

var deviceSubcommands = []subcommand{
	{name: "list", summary: "list the devices, one line each: ID NAME last-seen (the default)", run: runDevicesList},
	{name: "approve", summary: "link the new device showing CODE (see 'samizdat link') to your account", run: runDevicesApprove},
	{name: "remove", summary: "remove device ID (from the primary device only)", run: runDevicesRemove},
}

// deviceNameFlag adds --device-name to a command that registers a device.
func deviceNameFlag(f *cmdFlags) *string {
	return f.String("device-name", "", "a `NAME` for this device in 'samizdat devices' (sealed: the relay cannot read it)")
}

// checkDeviceName refuses a device name the client would.
func checkDeviceName(f *cmdFlags, name string) error {
	if client.CheckDeviceName(name) != nil {
		return f.usagef("--device-name takes at most %d bytes of UTF-8", client.MaxDeviceName)
	}
	return nil
}

// runDevices lists the devices when given no subcommand (or only flags).
func runDevices(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && !isHelpArg(args[0]) {
		return runDevicesList(ctx, e, args)
	}
	return dispatch(ctx, "devices", devicesAbout, e, args, deviceSubcommands)
}

func runDevicesList(ctx context.Context, e *env, args []string) error {
	f := newFlags("devices list", "", `List your account's devices, one per line as "ID NAME last-seen", separated by
spaces: the device ID, its name ("-" when it has none; a name may itself hold spaces, so
the ID is the first word and last-seen the last), and the day (UTC, YYYY-MM-DD) the relay
last saw it connect. This device, connected as it lists, shows "now"; a device that never
connected shows "never". For example:
  1 phone now
  2 laptop 2026-12-08
  3 - never`)
	c, release, err := openNoArgs(ctx, e, f, args)
	if err != nil {
		return err
	}
	defer release()
	devs, err := c.Devices(ctx)
	if err != nil {
		return err
	}
	for _, d := range devs {
		fmt.Fprintln(e.stdout, formatDevice(d))
	}
	return nil
}

// formatDevice is one line of devices list: "ID NAME last-seen", where a
// missing name is "-", this device's last-seen is "now" and that of a device
// never seen connecting is "never".
func formatDevice(d client.Device) string {
	name := strings.TrimSpace(printable(d.Name))
	if name == "" {
		name = "-"
	}
	seen := "never"
	switch {
	case d.Current:
		seen = "now"
	case !d.LastSeen.IsZero():
		seen = d.LastSeen.UTC().Format("2006-01-02")
	}
	return fmt.Sprintf("%d %s %s", d.ID, name, seen)
}

func runDevicesRemove(ctx context.Context, e *env, args []string) error {
	f := newFlags("devices remove", "ID", `Remove device ID from your account (see 'samizdat devices' for the IDs). Only the
primary device (1) may, and not itself. The removed device gets nothing more, even what
waits for it now, and the relay refuses it from then on.`)
	f.homeFlag(e)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return f.usagef("need one device ID")
	}
	id, err := strconv.ParseUint(pos[0], 10, 32)
	if err != nil || id == 0 {
		return f.usagef("%q is not a device ID: want a number such as 2 (see 'samizdat devices')", pos[0])
	}
	c, release, err := openClient(ctx, e, nil)
	if err != nil {
		return err
	}
	defer release()
	switch err := c.RemoveDevice(ctx, uint32(id)); {
	case errors.Is(err, client.ErrRemoveSelf) && c.DeviceID() == 1:
		return errors.New("device 1 is this device, the primary: it cannot be removed\nhint: the primary holds the account; remove the others from here")
	case errors.Is(err, client.ErrRemoveSelf):
		return fmt.Errorf("device %d is this device: a device cannot remove itself\nhint: run 'samizdat devices remove %d' on the primary device (1)", id, id)
	case errors.Is(err, client.ErrNotPrimary) && id == 1:
		return fmt.Errorf("device 1 is the primary: it cannot be removed (this is device %d)\nhint: the primary holds the account; it removes the others", c.DeviceID())
	case errors.Is(err, client.ErrNotPrimary):
		return fmt.Errorf("only the primary device (1) removes devices; this is device %d\nhint: run 'samizdat devices remove %d' on the primary device", c.DeviceID(), id)
	case errors.Is(err, client.ErrNoSuchDevice):
		return fmt.Errorf("your account has no device %d\nhint: 'samizdat devices' lists them", id)
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "removed device %d; it gets nothing more and the relay refuses it\n", id)
	return nil
}
