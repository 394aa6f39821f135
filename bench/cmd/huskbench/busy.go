package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// busyMounts is how many mounts the busy-host operations add to the benchmark's private mount
// namespace: a container host has hundreds (each container's rootfs, /dev/shm, secrets, ...), and
// every runtime command that reads /proc/self/mountinfo, and every new mount namespace, pays for
// them.
const busyMounts = 500

// busyHost measures `run` of the minimal bundle and `exec` into a running typical container with
// busyMounts extra mounts, interleaved as the other operations, n times. The mounts are removed
// afterwards (and die with the namespace anyway).
func (b *bench) busyHost(n int) {
	dir := filepath.Join(b.outDir, "busy-mounts")
	if err := addMounts(dir, busyMounts); err != nil {
		for _, c := range b.cs {
			b.fail(opBusyRun, kindMinimal, c, err)
		}
		return
	}
	defer func() {
		unix.Unmount(dir, unix.MNT_DETACH)
		os.Remove(dir)
	}()
	running := map[string]string{} // runtime -> a running typical container
	for _, c := range b.cs {
		if c.Floor || b.stopping.Load() {
			continue
		}
		id, _, ok := b.create(kindTypical, c, recordNone)
		if !ok {
			continue
		}
		if !b.step("", kindTypical, c, c.argv("start", id)) {
			b.forceDelete(id)
			continue
		}
		running[c.Name] = id
	}
	for i := 0; i < n && !b.stopping.Load(); i++ {
		fmt.Fprintf(os.Stderr, "huskbench: %d host mounts, iteration %d/%d\n", busyMounts, i+1, n)
		for _, c := range b.cs {
			if b.stopping.Load() {
				break
			}
			b.timeRun(opBusyRun, kindMinimal, c)
			if id := running[c.Name]; id != "" {
				b.step(opBusyExec, kindTypical, c, c.argv("exec", id, "/bin/true"))
			}
		}
	}
	for _, id := range running {
		b.forceDelete(id)
	}
}

// addMounts mounts a tmpfs on dir, and count small tmpfs below it.
func addMounts(dir string, count int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		return fmt.Errorf("mount %s: %w", dir, err)
	}
	for i := 0; i < count; i++ {
		sub := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(sub, 0o700); err != nil {
			unix.Unmount(dir, unix.MNT_DETACH)
			return err
		}
		if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=4k"); err != nil {
			unix.Unmount(dir, unix.MNT_DETACH)
			return fmt.Errorf("mount %s: %w", sub, err)
		}
	}
	return nil
}
