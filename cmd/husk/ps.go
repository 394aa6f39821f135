package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/urfave/cli"

	"github.com/husk-runtime/husk/libcontainer/system"
)

var psCommand = cli.Command{
	Name:      "ps",
	Usage:     "ps displays the processes running inside a container",
	ArgsUsage: `<container-id> [ps options]`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "format, f", Value: "table", Usage: `select one of: table or json`},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, minArgs); err != nil {
			return err
		}
		c, err := getContainer(ctx)
		if err != nil {
			return err
		}
		pids, err := c.Pids()
		if err != nil {
			return err
		}
		switch ctx.String("format") {
		case "table":
		case "json":
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids)
		default:
			return errors.New("invalid format option")
		}
		psArgs := ctx.Args()[1:]
		if len(psArgs) == 0 {
			psArgs = []string{"-ef"}
		}
		var out []byte
		err = system.WithCallerTimerSlack(func() (err error) {
			out, err = exec.Command("ps", psArgs...).Output()
			return err
		})
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		lines := strings.Split(string(bytes.TrimRight(out, "\n")), "\n")
		pidIndex := -1
		for i, name := range strings.Fields(lines[0]) {
			if name == "PID" {
				pidIndex = i
			}
		}
		if pidIndex < 0 {
			return errors.New("couldn't find PID field in ps output")
		}
		in := map[int]bool{}
		for _, p := range pids {
			in[p] = true
		}
		fmt.Println(lines[0])
		for _, line := range lines[1:] {
			f := strings.Fields(line)
			if len(f) <= pidIndex {
				continue
			}
			if p, err := strconv.Atoi(f[pidIndex]); err == nil && in[p] {
				fmt.Println(line)
			}
		}
		return nil
	},
}
