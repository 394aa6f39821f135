package main

import (
	"github.com/urfave/cli"
)

var killCommand = cli.Command{
	Name:  "kill",
	Usage: "kill sends the specified signal (default: SIGTERM) to the container's init process",
	ArgsUsage: `<container-id> [signal]

Where "<container-id>" is the name for the instance of the container and
"[signal]" is the signal to be sent to the init process.

EXAMPLE:
For example, if the container id is "ubuntu01" the following will send a "KILL"
signal to the init process of the "ubuntu01" container:

       # husk kill ubuntu01 KILL`,
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "all, a", Usage: "send the specified signal to all processes inside the container"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, minArgs); err != nil {
			return err
		}
		if err := checkArgs(ctx, 2, maxArgs); err != nil {
			return err
		}
		c, err := getContainer(ctx)
		if err != nil {
			return err
		}
		sigstr := ctx.Args().Get(1)
		if sigstr == "" {
			sigstr = "SIGTERM"
		}
		sig, err := parseSignal(sigstr)
		if err != nil {
			return err
		}
		return c.Signal(sig, ctx.Bool("all"))
	},
}
