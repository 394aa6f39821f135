package main

import (
	"fmt"

	"github.com/urfave/cli"

	"github.com/husk-runtime/husk/specconv"
)

// specCommand implements `husk spec`: it writes an example config.json into
// the bundle directory (the current directory by default).
var specCommand = cli.Command{
	Name:  "spec",
	Usage: "create a new specification file",
	Description: `The spec command creates config.json, a starting point for a container's
configuration, in the bundle directory. Put the container's root filesystem in
the "rootfs" directory next to it, then edit the file as needed.

The --rootless option generates a configuration suitable for a container
started by an unprivileged user.`,
	ArgsUsage: "",
	Flags: []cli.Flag{
		cli.StringFlag{
			Name:  "bundle, b",
			Value: "",
			Usage: "path to the root of the bundle directory",
		},
		cli.BoolFlag{
			Name:  "rootless",
			Usage: "generate a configuration for a rootless container",
		},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() != 0 {
			return fmt.Errorf("%s: %q requires exactly 0 arguments", ctx.Command.Name, "husk spec")
		}
		s := specconv.Example()
		if ctx.Bool("rootless") {
			specconv.ToRootless(s)
		}
		bundle := ctx.String("bundle")
		if bundle == "" {
			bundle = "."
		}
		return specconv.WriteNew(bundle, s)
	},
}
