package common

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// ContainerPath returns the cleaned cgroups path of a container: cgroupsPath,
// or the container id when cgroupsPath is empty (then id must be non-empty
// and hold no '/'). The result is checked with CleanPath; the caller decides
// which starting points ("/", ".") it may not name.
func ContainerPath(cgroupsPath, id string) (string, error) {
	p := cgroupsPath
	if p == "" {
		if id == "" || strings.Contains(id, "/") {
			return "", fmt.Errorf("empty cgroups path needs a container id without '/', got %q", id)
		}
		p = id
	}
	return CleanPath(p)
}

// IsPermission reports whether err is a permission error (EPERM, EACCES or
// EROFS), which rootless callers may tolerate.
func IsPermission(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS)
}

// TreePids returns the pids listed in cgroup.procs of dir and of every
// cgroup below it, in walk order. A cgroup that no longer exists (or
// vanishes during the walk) contributes nothing.
func TreePids(dir string) ([]int, error) {
	var out []int
	err := filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if !de.IsDir() {
			return nil
		}
		s, err := ReadFile(p, "cgroup.procs")
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(s) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("parse %s: bad pid %q", filepath.Join(p, "cgroup.procs"), f)
			}
			out = append(out, pid)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Freezer is a driver's freezer for one cgroup, as KillTree uses it.
type Freezer struct {
	// State returns Frozen, Thawed or Undefined.
	State func() (string, error)
	// Set freezes (true) or thaws (false) and waits for the kernel.
	Set func(freeze bool) error
}

// KillTree sends sig to every pid that pids returns, except the caller's
// own; a pid that is already gone is not an error. With a freezer (fz not
// nil) the cgroup is frozen first, so no process can fork past the signal,
// and thawed afterwards, unless it was already frozen and sig is not
// SIGKILL (a frozen process cannot die). A failure to freeze is only
// logged.
func KillTree(sig unix.Signal, pids func() ([]int, error), fz *Freezer) error {
	wasFrozen := false
	if fz != nil {
		st, err := fz.State()
		if err != nil {
			return err
		}
		wasFrozen = st == Frozen
		if ferr := fz.Set(true); ferr != nil {
			logrus.Warnf("kill: %v", ferr)
		}
	}
	list, err := pids()
	if err == nil {
		self := os.Getpid()
		for _, p := range list {
			if p == self {
				continue
			}
			if kerr := unix.Kill(p, sig); kerr != nil && !errors.Is(kerr, unix.ESRCH) {
				err = errors.Join(err, fmt.Errorf("signal %d to pid %d: %w", sig, p, kerr))
			}
		}
	}
	if fz != nil && (!wasFrozen || sig == unix.SIGKILL) {
		if terr := fz.Set(false); terr != nil {
			err = errors.Join(err, terr)
		}
	}
	return err
}

// RemoveTree removes the cgroup dir and every cgroup below it, deepest
// first. It kills nothing: rmdir of a cgroup that still holds tasks fails
// with EBUSY, which is retried with a doubling backoff (1ms to 100ms) until
// deadline, since tasks that were just killed leave their cgroup
// asynchronously. A missing cgroup is not an error.
func RemoveTree(dir string, deadline time.Time) error {
	var subdirs []string
	err := filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if de.IsDir() {
			subdirs = append(subdirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(subdirs) - 1; i >= 0; i-- {
		if err := rmdirRetry(subdirs[i], deadline); err != nil {
			return err
		}
	}
	return nil
}

// rmdirRetry removes one cgroup directory, polling on EBUSY with a doubling
// backoff (1ms to 100ms) until deadline.
func rmdirRetry(dir string, deadline time.Time) error {
	delay := time.Millisecond
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().Add(delay).After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(delay)
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// PollFreezer calls poll (with attempt 0, 1, 2 …) until it reports the
// state the caller waits for, sleeping between attempts with a backoff from
// 100µs to 10ms, about five seconds in all. It returns false when the state
// was not reached in that time, and the first error poll returns.
func PollFreezer(poll func(attempt int) (bool, error)) (bool, error) {
	delay := 100 * time.Microsecond
	for i := 0; i < 520; i++ {
		done, err := poll(i)
		if err != nil {
			return false, err
		}
		if done {
			return true, nil
		}
		time.Sleep(delay)
		delay = min(delay*2, 10*time.Millisecond)
	}
	return false, nil
}
