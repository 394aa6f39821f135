package main

import (
	"errors"
	"os"

	"github.com/urfave/cli"

	"github.com/husk-runtime/husk/libcontainer"
)

var runCommand = cli.Command{
	Name:  "run",
	Usage: "create and run a container",
	ArgsUsage: `<container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting. The name you provide for the container instance must be unique on
your host.`,
	Description: `The run command creates an instance of a container for a bundle. The bundle
is a directory with a specification file named "` + specConfig + `" and a root
filesystem.`,
	Flags: append([]cli.Flag{
		cli.BoolFlag{Name: "detach, d", Usage: "detach from the container's process"},
		cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
	}, createFlags...),
	Action: func(ctx *cli.Context) error {
		libcontainer.SealEarly()
		o, err := createOpts(ctx)
		if err != nil {
			return err
		}
		detach := ctx.Bool("detach")
		if detach && ctx.Bool("keep") {
			return errors.New("--detach and --keep cannot both be specified")
		}
		code, err := runContainer(o, detach, ctx.Bool("keep"))
		if err != nil {
			return err
		}
		if !detach {
			os.Exit(code)
		}
		return nil
	},
}

// runContainer creates and starts a container and, in the foreground, waits for it (see foreground).
func runContainer(o *libcontainer.CreateOpts, detach, keep bool) (int, error) {
	var fg *foreground
	if !detach {
		f, con, err := newForeground(o.Spec.Process.Terminal, o.ConsoleSocket)
		if err != nil {
			return 0, err
		}
		fg = f
		defer fg.close()
		o.Console = con
	}
	c, err := libcontainer.Create(o)
	if err != nil {
		return 0, err
	}
	if fg != nil {
		if err := fg.started(); err != nil {
			c.Delete(true)
			return 0, err
		}
	}
	if err := c.Start(); err != nil {
		c.Delete(true)
		return 0, err
	}
	if detach {
		return 0, nil
	}
	code := fg.wait(c.InitPid)
	fg.close()
	if !keep {
		if err := c.Delete(true); err != nil {
			return 0, err
		}
	}
	return code, nil
}
