package main

import (
	"github.com/husk-runtime/husk/libcontainer"
	"github.com/urfave/cli"
)

var pauseCommand = containerCommand(cli.Command{
	Name:  "pause",
	Usage: "pause suspends all processes inside the container",
	ArgsUsage: `<container-id>

Where "<container-id>" is the name for the instance of the container to be
paused. `,
	Description: `The pause command suspends all processes in the instance of the container.

Use husk list to identify instances of containers and their current status.`,
}, (*libcontainer.Container).Pause)

// containerCommand completes cmd (name and help texts) with an Action that
// takes exactly one argument, the container id, loads that container and
// runs act on it. It serves pause and resume.
func containerCommand(cmd cli.Command, act func(*libcontainer.Container) error) cli.Command {
	cmd.Action = func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, exactArgs); err != nil {
			return err
		}
		c, err := getContainer(ctx)
		if err != nil {
			return err
		}
		return act(c)
	}
	return cmd
}
