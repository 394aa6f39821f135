package rootfs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Pivot makes the rootfs the process's "/" and leaves the working directory
// there: pivot_root(".", ".") and a lazy unmount of the old root, or, with
// NoPivot, MS_MOVE of the rootfs onto "/" and chroot. It then applies
// linux.rootfsPropagation to the new "/": doing that earlier would make
// pivot_root(2) and MS_MOVE fail with EINVAL for "shared".
func Pivot(c *Config) error {
	if err := c.validate(); err != nil {
		return err
	}
	prop, err := c.rootPropagation()
	if err != nil {
		return err
	}
	if c.NoPivot {
		err = moveRoot(c.Rootfs)
	} else {
		err = pivotRoot(c.Rootfs)
	}
	if err != nil {
		return err
	}
	if prop != 0 {
		if err := unix.Mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("rootfs: set propagation of the rootfs to %s: %w", propagationName(prop), err)
		}
	}
	return nil
}

func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: open /: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: open %s: %w", rootfs, err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("pivot_root: chdir to rootfs: %w", err)
	}
	// With new_root == put_old the old root ends up stacked on top of the
	// new one, where it can be detached without needing a directory for it
	// inside the (possibly read-only) rootfs.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return fmt.Errorf("pivot_root: chdir to old root: %w", err)
	}
	// Make the old root a slave first so that unmounting it cannot
	// propagate to the host's mounts.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("pivot_root: make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("pivot_root: unmount old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("pivot_root: chdir /: %w", err)
	}
	return nil
}

// moveRoot is the --no-pivot path. A chroot leaves the host's mounts in the
// namespace, so every full procfs and sysfs outside the rootfs is detached
// (or, where that is not permitted, covered with a tmpfs) first: a process
// escaping the chroot must not find a host /proc or /sys there.
func moveRoot(rootfs string) error {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		keep := m.Root == "/" && (m.FSType == "proc" || m.FSType == "sysfs") &&
			m.Mountpoint != rootfs && !strings.HasPrefix(m.Mountpoint, rootfs+"/")
		return !keep, false
	})
	if err != nil {
		return fmt.Errorf("no-pivot: read mountinfo: %w", err)
	}
	for _, m := range mounts {
		p := m.Mountpoint
		if err := unix.Mount("", p, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil &&
			!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("no-pivot: make %s rslave: %w", p, err)
		}
		err := unix.Unmount(p, unix.MNT_DETACH)
		if err == nil || errors.Is(err, unix.ENOENT) {
			continue
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("no-pivot: unmount %s: %w", p, err)
		}
		if err := unix.Mount("tmpfs", p, "tmpfs", 0, ""); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("no-pivot: cover %s: %w", p, err)
		}
	}
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("no-pivot: open %s: %w", rootfs, err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("no-pivot: chdir to rootfs: %w", err)
	}
	if err := unix.MoveMount(newroot, "", unix.AT_FDCWD, "/", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("no-pivot: move %s to /: %w", rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("no-pivot: chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("no-pivot: chdir /: %w", err)
	}
	return nil
}
