//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command husk is an OCI container runtime with runc's command line.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"

	"github.com/husk-runtime/husk/libcontainer/initproc"
	"github.com/husk-runtime/husk/libcontainer/system"
	"github.com/husk-runtime/husk/nsenter" // the pre-Go constructor of `husk init` (and the timer slack)
)

// Set with -ldflags -X by the Makefile.
var (
	version   = "0.1.0"
	gitCommit = ""
)

const usage = `Open Container Initiative runtime

husk is a command line client for running applications packaged according to
the Open Container Initiative (OCI) format and is a compliant implementation of the
Open Container Initiative specification. Its command line is runc's.

Containers are configured using bundles. A bundle for a container is a directory
that includes a specification file named "` + specConfig + `" and a root filesystem.
The root filesystem contains the contents of the container.

To start a new instance of a container:

    # husk run [ -b bundle ] <container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting. The name you provide for the container instance must be unique on
your host. Providing the bundle directory using "-b" is optional. The default
value for "bundle" is the current directory.`

const specConfig = "config.json"

func main() {
	system.SetTimerSlack(nsenter.TimerSlack())
	if initproc.IsInit() {
		initproc.Main() // never returns
	}
	app := cli.NewApp()
	app.Name = "husk"
	app.Usage = usage
	v := []string{version}
	if gitCommit != "" {
		v = append(v, "commit: "+gitCommit)
	} else {
		v = append(v, "commit: unknown")
	}
	v = append(v, "spec: "+specs.Version, "go: "+runtime.Version())
	if lib := libseccompVersion(); lib != "" {
		v = append(v, "libseccomp: "+lib)
	}
	app.Version = strings.Join(v, "\n")
	app.Flags = []cli.Flag{
		cli.BoolFlag{Name: "debug", Usage: "enable debug logging"},
		cli.StringFlag{Name: "log", Value: "", Usage: "set the log file to write husk logs to (default is '/dev/stderr')"},
		cli.StringFlag{Name: "log-format", Value: "text", Usage: "set the log format ('text' (default), or 'json')"},
		cli.StringFlag{Name: "root", Value: defaultRoot(), Usage: "root directory for storage of container state (this should be located in tmpfs)"},
		cli.BoolFlag{Name: "systemd-cgroup", Usage: "enable systemd cgroup support, expects cgroupsPath to be of form \"slice:prefix:name\" for e.g. \"system.slice:husk:434234\""},
		cli.StringFlag{Name: "rootless", Value: "auto", Usage: "ignore cgroup permission errors ('true', 'false', or 'auto')"},
	}
	app.Commands = []cli.Command{
		createCommand,
		deleteCommand,
		eventsCommand,
		execCommand,
		featuresCommand,
		killCommand,
		listCommand,
		pauseCommand,
		psCommand,
		resumeCommand,
		runCommand,
		specCommand,
		startCommand,
		stateCommand,
		updateCommand,
	}
	app.Before = func(ctx *cli.Context) error {
		return configLogging(ctx)
	}
	// Usage errors print the error and the help text, as runc does.
	cli.ErrWriter = &fatalWriter{cli.ErrWriter}
	if err := app.Run(os.Args); err != nil {
		fatal(err)
	}
}

// defaultRoot is /run/husk for root, $XDG_RUNTIME_DIR/husk otherwise (as runc does for /run/runc).
func defaultRoot() string {
	if os.Geteuid() != 0 {
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
			return d + "/husk"
		}
	}
	return "/run/husk"
}

// logToStderr tells whether logrus already writes to stderr (then fatal does not print twice).
var logToStderr = true

func configLogging(ctx *cli.Context) error {
	if ctx.GlobalBool("debug") {
		logrus.SetLevel(logrus.DebugLevel)
	}
	if path := ctx.GlobalString("log"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return err
		}
		logrus.SetOutput(f)
		logToStderr = false
	}
	switch f := ctx.GlobalString("log-format"); f {
	case "text":
	case "json":
		logrus.SetFormatter(new(logrus.JSONFormatter))
	default:
		return errors.New("invalid log-format: " + f)
	}
	return nil
}

// fatal logs err (the last "error" line of --log is what containerd shows), prints it on stderr and exits 1.
func fatal(err error) {
	fatalWithCode(err, 1)
}

func fatalWithCode(err error, code int) {
	logrus.Error(err)
	if !logToStderr {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// fatalWriter turns urfave/cli's usage error output into a fatal error line too.
type fatalWriter struct{ w io.Writer }

func (f *fatalWriter) Write(p []byte) (int, error) {
	logrus.Error(strings.TrimSpace(string(p)))
	if !logToStderr {
		return f.w.Write(p)
	}
	return len(p), nil
}
