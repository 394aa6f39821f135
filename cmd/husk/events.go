package main

import (
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/urfave/cli"

	"github.com/husk-runtime/husk/libcontainer"
)

var eventsCommand = cli.Command{
	Name:  "events",
	Usage: "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
	ArgsUsage: `<container-id>

Where "<container-id>" is the name for the instance of the container.`,
	Description: `The events command displays information about the container. By default the
information is displayed once every 5 seconds.`,
	Flags: []cli.Flag{
		cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "set the stats collection interval"},
		cli.BoolFlag{Name: "stats", Usage: "display the container's stats then exit"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, exactArgs); err != nil {
			return err
		}
		c, err := getContainer(ctx)
		if err != nil {
			return err
		}
		if ctx.Duration("interval") <= 0 {
			return errors.New("duration interval must be greater than 0")
		}
		enc := json.NewEncoder(os.Stdout)
		emit := func(e *libcontainer.Event) error { return enc.Encode(e) }
		if ctx.Bool("stats") {
			st, err := c.Stats()
			if err != nil {
				return err
			}
			return emit(&libcontainer.Event{Type: "stats", ID: c.ID, Data: st})
		}
		return c.Events(ctx.Duration("interval"), emit)
	},
}
