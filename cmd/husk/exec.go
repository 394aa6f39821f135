package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer"
	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/specconv"
)

var execCommand = cli.Command{
	Name:  "exec",
	Usage: "execute new process inside the container",
	ArgsUsage: `<container-id> <command> [command options]  || -p process.json <container-id>

Where "<container-id>" is the name for the instance of the container and
"<command>" is the command to be executed in the container.
"<command>" can't be empty unless a "-p" flag provided.

EXAMPLE:
For example, if the container is configured to run the linux ps command the
following will output a list of processes running in the container:

       # husk exec <container-id> ps`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"},
		cli.StringFlag{Name: "pidfd-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the exec process"},
		cli.StringFlag{Name: "cwd", Usage: "current working directory in the container"},
		cli.StringSliceFlag{Name: "env, e", Usage: "set environment variables"},
		cli.BoolFlag{Name: "tty, t", Usage: "allocate a pseudo-TTY"},
		cli.StringFlag{Name: "user, u", Usage: "UID (format: <uid>[:<gid>])"},
		cli.Int64SliceFlag{Name: "additional-gids, g", Usage: "additional gids"},
		cli.StringFlag{Name: "process, p", Usage: "path to the process.json"},
		cli.BoolFlag{Name: "detach, d", Usage: "detach from the container's process"},
		cli.StringFlag{Name: "pid-file", Usage: "specify the file to write the process id to"},
		cli.StringFlag{Name: "process-label", Usage: "set the asm process label for the process commonly used with selinux"},
		cli.StringFlag{Name: "apparmor", Usage: "set the apparmor profile for the process"},
		cli.BoolFlag{Name: "no-new-privs", Usage: "set the no new privileges value for the process"},
		cli.StringSliceFlag{Name: "cap, c", Usage: "add a capability to the bounding set for the process"},
		cli.IntFlag{Name: "preserve-fds", Usage: "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"},
		cli.StringSliceFlag{Name: "cgroup", Usage: "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>."},
		cli.BoolFlag{Name: "ignore-paused", Usage: "allow exec in a paused container"},
	},
	// `husk exec ID sh -c '...'`: flags stop at the first positional argument.
	SkipArgReorder: true,
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, minArgs); err != nil {
			return err
		}
		libcontainer.SealEarly()
		code, err := execProcess(ctx)
		if err != nil {
			// A failure of husk itself, as opposed to the process's own status, is 255 (runc).
			fatalWithCode(err, 255)
		}
		os.Exit(code)
		return nil
	},
}

func execProcess(ctx *cli.Context) (int, error) {
	c, err := getContainer(ctx)
	if err != nil {
		return 0, err
	}
	proc, err := execSpec(ctx, c)
	if err != nil {
		return 0, err
	}
	detach := ctx.Bool("detach")
	o := &libcontainer.ExecOpts{
		Process: proc, PidFile: ctx.String("pid-file"), ConsoleSocket: ctx.String("console-socket"),
		PidfdSocket: ctx.String("pidfd-socket"), PreserveFDs: ctx.Int("preserve-fds"),
		IgnorePaused: ctx.Bool("ignore-paused"), SubCgroups: ctx.StringSlice("cgroup"),
	}
	var fg *foreground
	if !detach {
		f, con, err := newForeground(proc.Terminal, o.ConsoleSocket)
		if err != nil {
			return 0, err
		}
		fg = f
		defer fg.close()
		o.Console = con
	}
	pid, err := c.Exec(o)
	if err != nil {
		return 0, err
	}
	if detach {
		return 0, nil
	}
	if err := fg.started(); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return 0, err
	}
	return fg.wait(pid), nil
}

// execSpec is the process to start: the --process file as it is, or the container's process with the
// command line and the flags applied (as runc does).
func execSpec(ctx *cli.Context, c *libcontainer.Container) (*specs.Process, error) {
	if path := ctx.String("process"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("parse process file %s: %w", path, err)
		}
		if ctx.Bool("tty") {
			p.Terminal = true
		}
		return &p, specconv.ValidateProcess(&p)
	}
	if ctx.NArg() < 2 {
		return nil, errors.New("exec args cannot be empty")
	}
	if c.Config == nil || c.Config.Process == nil {
		return nil, errors.New("container has no process to base exec on")
	}
	p := copyProcess(c.Config.Process)
	p.Args = ctx.Args()[1:]
	p.Terminal = ctx.Bool("tty")
	if cwd := ctx.String("cwd"); cwd != "" {
		p.Cwd = cwd
	}
	p.Env = append(p.Env, ctx.StringSlice("env")...)
	if v := ctx.String("apparmor"); v != "" {
		p.ApparmorProfile = v
	}
	if v := ctx.String("process-label"); v != "" {
		p.SelinuxLabel = v
	}
	if ctx.IsSet("no-new-privs") {
		p.NoNewPrivileges = ctx.Bool("no-new-privs")
	}
	if caps := ctx.StringSlice("cap"); len(caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		pc := p.Capabilities
		for _, name := range caps {
			if _, err := capabilities.Parse(name); err != nil {
				return nil, err
			}
			pc.Bounding = append(pc.Bounding, name)
			pc.Effective = append(pc.Effective, name)
			pc.Permitted = append(pc.Permitted, name)
			// Ambient only when the process already has inheritable capabilities (never added to inheritable).
			if len(pc.Inheritable) > 0 {
				pc.Ambient = append(pc.Ambient, name)
			}
		}
	}
	if u := ctx.String("user"); u != "" {
		uid, gid, hasGid := strings.Cut(u, ":")
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parsing %s as int for uid failed: %w", uid, err)
		}
		p.User.UID = uint32(n)
		if hasGid {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("parsing %s as int for gid failed: %w", gid, err)
			}
			p.User.GID = uint32(g)
		}
	}
	// urfave/cli v1 reports a single value of an aliased slice flag twice ("-g 30" gives [30 30]): a
	// group list is a set, so repeated gids are dropped.
	seen := map[int64]bool{}
	for _, g := range ctx.Int64Slice("additional-gids") {
		if g < 0 {
			return nil, fmt.Errorf("additional-gids must be a positive number %d", g)
		}
		if !seen[g] {
			seen[g] = true
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
		}
	}
	return p, specconv.ValidateProcess(p)
}

// copyProcess copies the container's process deeply enough for execSpec to change it: the struct, and
// the slices and sets it appends to (a JSON round trip did this before, at ~0.3 ms of reflection).
func copyProcess(in *specs.Process) *specs.Process {
	p := *in
	p.Env = append([]string(nil), in.Env...)
	p.User.AdditionalGids = append([]uint32(nil), in.User.AdditionalGids...)
	if c := in.Capabilities; c != nil {
		p.Capabilities = &specs.LinuxCapabilities{
			Bounding:    append([]string(nil), c.Bounding...),
			Effective:   append([]string(nil), c.Effective...),
			Permitted:   append([]string(nil), c.Permitted...),
			Inheritable: append([]string(nil), c.Inheritable...),
			Ambient:     append([]string(nil), c.Ambient...),
		}
	}
	return &p
}
