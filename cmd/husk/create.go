package main

import (
	"github.com/urfave/cli"

	"github.com/husk-runtime/husk/libcontainer"
)

var createCommand = cli.Command{
	Name:  "create",
	Usage: "create a container",
	ArgsUsage: `<container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting. The name you provide for the container instance must be unique on
your host.`,
	Description: `The create command creates an instance of a container for a bundle. The bundle
is a directory with a specification file named "` + specConfig + `" and a root
filesystem.

The specification file includes an args parameter. The args parameter is used
to specify command(s) that get run when the container is started. To change the
command(s) that get executed on start, edit the args parameter of the spec. See
"husk spec --help" for more explanation.`,
	Flags: createFlags,
	Action: func(ctx *cli.Context) error {
		libcontainer.SealEarly()
		o, err := createOpts(ctx)
		if err != nil {
			return err
		}
		_, err = libcontainer.Create(o)
		return err
	},
}
