// Package rootfs builds the container's mount namespace: it runs inside the
// container's init process, in its new mount namespace, and turns the bundle's
// root filesystem into the container's "/".
//
// The caller uses it in this order:
//
//	Prepare       propagation of "/", rbind of the rootfs, spec mounts, /dev
//	(hooks)       createRuntime / createContainer
//	Pivot         pivot_root (or MS_MOVE + chroot with NoPivot), rootfsPropagation
//	MountConsole  only with a terminal
//	Finalize      readonlyPaths, maskedPaths, root.readonly
//
// Every destination inside the rootfs is treated as hostile: see resolve.go
// and docs/rootfs.md. The package needs the file-descriptor mount API
// (open_tree, fsopen, move_mount, mount_setattr: Linux 5.12 or later).
package rootfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Config is what the mount setup needs.
type Config struct {
	Spec    *specs.Spec // validated OCI spec; Spec.Root.Path is an absolute host path
	Rootfs  string      // absolute host path of the root filesystem, symlinks already resolved
	NoPivot bool        // --no-pivot: use MS_MOVE + chroot instead of pivot_root
	// InCgroup, when set, is called before the first "cgroup" mount: the cgroup mount shows the
	// process's own cgroup, so it must be in the container's by then (the parent may still be
	// moving it there while the other mounts are made).
	InCgroup func() error
	// CgroupPaths are the container's cgroup v1 directories by controller (as state.json keeps
	// them). The cgroup bind mounts show these rather than the process's current cgroups: init joins
	// the memory hierarchy only at the end of its set-up.
	CgroupPaths map[string]string
}

func (c *Config) validate() error {
	if c == nil || c.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	if !filepath.IsAbs(c.Rootfs) {
		return fmt.Errorf("rootfs: path %q is not absolute", c.Rootfs)
	}
	return nil
}

// rootPropagation returns the linux.rootfsPropagation flags, or 0 when unset.
func (c *Config) rootPropagation() (uintptr, error) {
	if c.Spec.Linux == nil || c.Spec.Linux.RootfsPropagation == "" {
		return 0, nil
	}
	p, ok := propagationOptions[c.Spec.Linux.RootfsPropagation]
	if !ok {
		return 0, fmt.Errorf("rootfs: unknown rootfsPropagation %q", c.Spec.Linux.RootfsPropagation)
	}
	return p, nil
}

// Prepare sets up everything before the createRuntime/createContainer hooks:
// it makes "/" rslave (or applies linux.rootfsPropagation) recursively,
// bind-mounts the rootfs onto itself, performs every spec mount in order
// inside the rootfs and populates /dev unless it is bind-mounted. The
// rootfs mount itself gets linux.rootfsPropagation in Pivot: pivot_root(2)
// refuses a shared new root, so it can only be applied once it is "/".
func Prepare(c *Config) error {
	if err := c.validate(); err != nil {
		return err
	}
	prop, err := c.rootPropagation()
	if err != nil {
		return err
	}
	// Our mounts must never propagate back to the host: slave by default,
	// as runc does, unless the spec asks otherwise.
	rootFlags := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if prop != 0 {
		rootFlags = prop
	}
	if err := unix.Mount("", "/", "", rootFlags, ""); err != nil {
		return fmt.Errorf("rootfs: set propagation of / to %s: %w", propagationName(rootFlags), err)
	}
	if !noSharedMounts(rootFlags) {
		if err := makeParentPrivate(c.Rootfs); err != nil {
			return err
		}
	}
	if err := unix.Mount(c.Rootfs, c.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("rootfs: bind %s onto itself: %w", c.Rootfs, err)
	}
	r, err := openRoot(c.Rootfs)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	defer r.Close()
	r.cgroupPaths = c.CgroupPaths

	for i := range c.Spec.Mounts {
		if c.Spec.Mounts[i].Type == "cgroup" && c.InCgroup != nil {
			if err := c.InCgroup(); err != nil {
				return err
			}
			c.InCgroup = nil
		}
		if err := r.mountEntry(&c.Spec.Mounts[i], c.Spec); err != nil {
			return err
		}
	}
	if needsDev(c.Spec) {
		if err := r.setupDev(c.Spec); err != nil {
			return fmt.Errorf("rootfs: set up /dev: %w", err)
		}
	}
	return nil
}

// noSharedMounts tells whether propagation flags applied to "/" leave no shared mount in the
// namespace (rslave, rprivate, runbindable: the defaults): makeParentPrivate, which reads the whole
// mount table (~1 ms on a host with 500 mounts), has nothing to do then.
func noSharedMounts(flags uintptr) bool {
	if flags&unix.MS_REC == 0 {
		return false
	}
	switch flags &^ unix.MS_REC {
	case unix.MS_SLAVE, unix.MS_PRIVATE, unix.MS_UNBINDABLE:
		return true
	}
	return false
}

// makeParentPrivate makes the mount holding the rootfs directory private
// when it is shared: pivot_root(2) and MS_MOVE refuse a shared parent.
func makeParentPrivate(rootfs string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(rootfs))
	if err != nil {
		return fmt.Errorf("rootfs: read mountinfo: %w", err)
	}
	var parent *mountinfo.Info
	for _, m := range mounts {
		if parent == nil || len(m.Mountpoint) > len(parent.Mountpoint) {
			parent = m
		}
	}
	if parent == nil || !strings.Contains(parent.Optional, "shared:") {
		return nil
	}
	if err := unix.Mount("", parent.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("rootfs: make %s private: %w", parent.Mountpoint, err)
	}
	return nil
}
