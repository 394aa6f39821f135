package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer"
	"github.com/husk-runtime/husk/specconv"
)

const (
	exactArgs = iota
	minArgs
	maxArgs
)

// checkArgs validates the number of positional arguments with runc's messages.
func checkArgs(ctx *cli.Context, expected, checkType int) error {
	var err error
	cmdName := ctx.Command.Name
	switch checkType {
	case exactArgs:
		if ctx.NArg() != expected {
			err = fmt.Errorf("%s: %q requires exactly %d argument(s)", os.Args[0], cmdName, expected)
		}
	case minArgs:
		if ctx.NArg() < expected {
			err = fmt.Errorf("%s: %q requires a minimum of %d argument(s)", os.Args[0], cmdName, expected)
		}
	case maxArgs:
		if ctx.NArg() > expected {
			err = fmt.Errorf("%s: %q requires a maximum of %d argument(s)", os.Args[0], cmdName, expected)
		}
	}
	if err != nil {
		fmt.Printf("Incorrect Usage.\n\n")
		_ = cli.ShowCommandHelp(ctx, cmdName)
		return err
	}
	return nil
}

// rootDir is the absolute --root.
func rootDir(ctx *cli.Context) (string, error) {
	return filepath.Abs(ctx.GlobalString("root"))
}

// getContainer loads the container named by the first argument.
func getContainer(ctx *cli.Context) (*libcontainer.Container, error) {
	id := ctx.Args().First()
	if id == "" {
		return nil, errors.New("container id cannot be empty")
	}
	root, err := rootDir(ctx)
	if err != nil {
		return nil, err
	}
	return libcontainer.Load(root, id)
}

// rootless reads the --rootless global flag: "auto" means rootless when not running as root.
func rootless(ctx *cli.Context) (bool, error) {
	switch v := ctx.GlobalString("rootless"); v {
	case "", "auto":
		return os.Geteuid() != 0, nil
	default:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("invalid --rootless value %q", v)
		}
		return b, nil
	}
}

// createFlags are the flags shared by create and run.
var createFlags = []cli.Flag{
	cli.StringFlag{Name: "bundle, b", Value: "", Usage: `path to the root of the bundle directory, defaults to the current directory`},
	cli.StringFlag{Name: "console-socket", Value: "", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"},
	cli.StringFlag{Name: "pidfd-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the init process"},
	cli.StringFlag{Name: "pid-file", Value: "", Usage: "specify the file to write the process id to"},
	cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot root to jail process inside rootfs.  This should be used whenever the rootfs is on top of a ramdisk"},
	cli.BoolFlag{Name: "no-new-keyring", Usage: "do not create a new session keyring for the container.  This will cause the container to inherit the calling processes session key"},
	cli.IntFlag{Name: "preserve-fds", Usage: "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"},
}

// createOpts reads the bundle and the create/run flags.
func createOpts(ctx *cli.Context) (*libcontainer.CreateOpts, error) {
	if err := checkArgs(ctx, 1, exactArgs); err != nil {
		return nil, err
	}
	id := ctx.Args().First()
	if err := specconv.ValidateID(id); err != nil {
		return nil, err
	}
	bundle := ctx.String("bundle")
	if bundle == "" {
		bundle = "."
	}
	spec, absBundle, err := specconv.Load(bundle)
	if err != nil {
		return nil, err
	}
	root, err := rootDir(ctx)
	if err != nil {
		return nil, err
	}
	rl, err := rootless(ctx)
	if err != nil {
		return nil, err
	}
	preserve := ctx.Int("preserve-fds")
	if preserve < 0 {
		return nil, errors.New("--preserve-fds must be a positive integer")
	}
	// $LISTEN_FDS (socket activation) are passed on as well, as runc does.
	if lf := os.Getenv("LISTEN_FDS"); lf != "" {
		if n, err := strconv.Atoi(lf); err == nil && n > 0 {
			preserve += n
		}
	}
	for i := 0; i < preserve; i++ {
		if _, err := unix.FcntlInt(uintptr(3+i), unix.F_GETFD, 0); err != nil {
			return nil, fmt.Errorf("preserved fd %d is not open", 3+i)
		}
	}
	return &libcontainer.CreateOpts{
		Root: root, ID: id, Bundle: absBundle, Spec: spec,
		PidFile: ctx.String("pid-file"), ConsoleSocket: ctx.String("console-socket"),
		PidfdSocket: ctx.String("pidfd-socket"), NoPivot: ctx.Bool("no-pivot"),
		NoNewKeyring: ctx.Bool("no-new-keyring"), PreserveFDs: preserve,
		Systemd: ctx.GlobalBool("systemd-cgroup"), Rootless: rl,
	}, nil
}

// parseSignal accepts "KILL", "SIGKILL", "kill" and "9".
func parseSignal(raw string) (unix.Signal, error) {
	if n, err := strconv.Atoi(raw); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("unknown signal %q", raw)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(raw)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if s := unix.SignalNum(name); s != 0 {
		return s, nil
	}
	return 0, fmt.Errorf("unknown signal %q", raw)
}
