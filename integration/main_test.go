//go:build linux

// Package integration runs the husk binary as root against real bundles and
// checks its observable behaviour (output shapes, exit codes, error texts)
// against the reference runtime's. Every test runs with a private --root, and
// a leak check after each test verifies that nothing was left behind.
//
// The binary is bin/husk at the repository root; HUSK_BINARY overrides it
// (for example HUSK_BINARY=$(command -v runc) to check the tests themselves).
package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// huskBinary is the absolute path of the runtime under test.
var huskBinary string

// repoRoot is the repository root (the parent of this package's directory).
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "integration tests must run as root")
		return 1
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "getwd: %v\n", err)
		return 1
	}
	repoRoot = filepath.Dir(wd)
	bin := os.Getenv("HUSK_BINARY")
	if bin == "" {
		bin = filepath.Join(repoRoot, "bin", "husk")
	}
	if !filepath.IsAbs(bin) {
		if p, err := exec.LookPath(bin); err == nil {
			bin = p
		}
		if bin, err = filepath.Abs(bin); err != nil {
			fmt.Fprintf(os.Stderr, "resolve HUSK_BINARY: %v\n", err)
			return 1
		}
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		fmt.Fprintf(os.Stderr, "runtime binary %s is missing or not executable (run `make build`, or set HUSK_BINARY): %v\n", bin, err)
		return 1
	}
	huskBinary = bin
	fmt.Fprintf(os.Stderr, "integration: testing %s\n", huskBinary)

	// Warm up: the first child process makes the Go runtime open long-lived
	// descriptors (netpoller); do that before any test takes an fd snapshot.
	if out, err := exec.Command(huskBinary, "--version").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "%s --version: %v: %s\n", huskBinary, err, out)
		return 1
	}

	code := m.Run()
	if err := removeCgroupParents(); err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// removeCgroupParents removes the /husk-it parent cgroups that runtimes
// create but (like runc) never remove. It is best effort: a parent still in
// use (by another run of the suite, or by someone testing by hand) stays.
// Leaked test cgroups are reported by each test's leak check, not here.
func removeCgroupParents() error {
	dirs, err := filepath.Glob(filepath.Join(cgroupRoot, "*", cgroupParent))
	if err != nil {
		return fmt.Errorf("glob cgroup parents: %w", err)
	}
	dirs = append(dirs, filepath.Join(cgroupRoot, cgroupParent)) // cgroup v2
	var bad []string
	for _, d := range dirs {
		err := os.Remove(d)
		if err == nil || errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY) {
			continue
		}
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		return fmt.Errorf("remove cgroup parents: %s", strings.Join(bad, "; "))
	}
	return nil
}
