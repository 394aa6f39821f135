package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli"

	"github.com/husk-runtime/husk/libcontainer"
)

var listCommand = cli.Command{
	Name:  "list",
	Usage: "lists containers started by husk with the given root",
	ArgsUsage: `

Where the given root is specified via the global option "--root"
(default: "/run/husk").

EXAMPLE 1:
To list containers created via the default "--root":
       # husk list

EXAMPLE 2:
To list containers created using a non-default value for "--root":
       # husk --root value list`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "format, f", Value: "table", Usage: `select one of: table or json`},
		cli.BoolFlag{Name: "quiet, q", Usage: "display only container IDs"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 0, exactArgs); err != nil {
			return err
		}
		root, err := rootDir(ctx)
		if err != nil {
			return err
		}
		cs, err := libcontainer.List(root)
		if err != nil {
			return err
		}
		if ctx.Bool("quiet") {
			for _, c := range cs {
				fmt.Println(c.ID)
			}
			return nil
		}
		var states []*libcontainer.OCIState
		for _, c := range cs {
			states = append(states, c.OCIState())
		}
		switch ctx.String("format") {
		case "table":
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle,
					s.Created.Format(time.RFC3339Nano), s.Owner)
			}
			return w.Flush()
		case "json":
			return json.NewEncoder(os.Stdout).Encode(states)
		default:
			return fmt.Errorf("invalid format option")
		}
	},
}
