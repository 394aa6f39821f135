package rootfs

import (
	"errors"
	"fmt"
	"github.com/husk-runtime/husk/libcontainer/lsm"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountName names a mount in error messages: its type, or its source for a
// bind mount.
func mountName(m *specs.Mount, o *mountOptions) string {
	if o.bind || m.Type == "" {
		return m.Source
	}
	return m.Type
}

// mountEntry performs one spec mount inside the root.
func (r *root) mountEntry(m *specs.Mount, spec *specs.Spec) error {
	dest := cleanDest(m.Destination)
	o := parseOptions(m.Type, m.Options)
	var err error
	switch {
	case o.idmap || len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0:
		err = errors.New("idmapped mounts are not supported")
	case o.remount:
		err = r.remountEntry(m, dest, o)
	case o.bind:
		err = r.bindEntry(m, dest, o)
	case m.Type == "cgroup":
		err = r.cgroupEntry(m, dest, o, hasNamespace(spec, specs.CgroupNamespace))
	default:
		if spec.Linux != nil {
			o.label = spec.Linux.MountLabel
		}
		err = r.fsEntry(m, dest, o)
	}
	if err != nil {
		return fmt.Errorf("mount %s to %s: %w", mountName(m, o), dest, err)
	}
	return nil
}

// hasNamespace reports whether the spec asks for (or joins) a namespace.
func hasNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// bindEntry clones the source tree, applies the requested attributes while
// it is still detached, and attaches it to the checked destination.
func (r *root) bindEntry(m *specs.Mount, dest string, o *mountOptions) error {
	st, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("stat source: %w", err)
	}
	tree, err := cloneTree(unix.AT_FDCWD, m.Source, o.recursive)
	if err != nil {
		return err
	}
	defer tree.Close()
	if err := setAttr(int(tree.Fd()), o.mountAttr(), false); err != nil {
		return err
	}
	if err := setAttr(int(tree.Fd()), o.recursiveAttr(), true); err != nil {
		return fmt.Errorf("recursive attributes: %w", err)
	}

	var target *os.File
	if st.IsDir() {
		target, err = r.mkdirAll(dest)
	} else {
		target, err = r.mkfile(dest)
	}
	if err != nil {
		return err
	}
	defer target.Close()
	rel, err := r.check(target)
	if err != nil {
		return err
	}
	if err := checkProcDest(rel, m, o); err != nil {
		return err
	}
	if err := attach(tree, target); err != nil {
		return err
	}
	return applyPropagation(tree, o)
}

// fsEntry creates a new filesystem instance (proc, sysfs, tmpfs, devpts,
// mqueue, overlay, ...) detached, fills it for tmpcopyup, and attaches it.
func (r *root) fsEntry(m *specs.Mount, dest string, o *mountOptions) error {
	strict := m.Type == "proc" || m.Type == "sysfs"
	if strict {
		if err := r.refuseSymlinks(dest); err != nil {
			return err
		}
	}
	target, err := r.mkdirAll(dest)
	if err != nil {
		return err
	}
	defer target.Close()
	rel, err := r.check(target)
	if err != nil {
		return err
	}
	if strict && rel != dest {
		return fmt.Errorf("destination %s resolves to %s through a symlink, refusing", dest, rel)
	}
	if err := checkProcDest(rel, m, o); err != nil {
		return err
	}

	data := o.data
	// linux.mountLabel (SELinux hosts only): a context= option where the filesystem takes one. With the
	// new mount API the value goes to fsconfig as is: no quoting of the label's commas is needed.
	if o.label != "" && lsm.SELinuxEnabled() && (m.Type == "tmpfs" || m.Type == "devpts") {
		data = append(append([]string(nil), data...), "context="+o.label)
	}
	mnt, err := newFilesystem(&fsParams{
		fstype:  m.Type,
		source:  m.Source,
		sbFlags: o.superblockFlags(),
		data:    data,
		attrs:   o.mountAttr().Attr_set,
	})
	if err != nil {
		return err
	}
	defer mnt.Close()
	if err := setAttr(int(mnt.Fd()), o.recursiveAttr(), true); err != nil {
		return fmt.Errorf("recursive attributes: %w", err)
	}
	if o.tmpcopyup && m.Type == "tmpfs" {
		if err := copyUp(target, mnt); err != nil {
			return fmt.Errorf("tmpcopyup: %w", err)
		}
	}
	if err := attach(mnt, target); err != nil {
		return err
	}
	if o.label != "" && m.Type == "mqueue" {
		// mqueue has no context= option: label its root instead (a no-op without SELinux).
		if err := lsm.SetFileLabel(fmt.Sprintf("/proc/self/fd/%d", mnt.Fd()), o.label); err != nil {
			return err
		}
	}
	return applyPropagation(mnt, o)
}

// remountEntry changes the flags of what is already mounted at dest, with a
// classic mount(2) aimed at the checked descriptor through /proc/self/fd
// (still the host's procfs at this point).
func (r *root) remountEntry(m *specs.Mount, dest string, o *mountOptions) error {
	target, err := r.open(dest)
	if err != nil {
		return err
	}
	defer target.Close()
	flags := o.msFlags | unix.MS_REMOUNT
	if o.bind {
		flags |= unix.MS_BIND
	}
	procPath := "/proc/self/fd/" + strconv.Itoa(int(target.Fd()))
	if err := unix.Mount(m.Source, procPath, m.Type, flags, joinData(o.data)); err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	return applyPropagation(target, o)
}

// applyPropagation applies the mount's propagation options, in order, once
// it is attached.
func applyPropagation(mnt *os.File, o *mountOptions) error {
	for _, p := range o.propagation {
		if err := setPropagation(int(mnt.Fd()), p); err != nil {
			return err
		}
	}
	return nil
}

// procAllowed are the only paths below /proc a non-procfs mount may cover:
// the files lxcfs-style tools emulate.
var procAllowed = map[string]bool{
	"/proc/cpuinfo":                true,
	"/proc/diskstats":              true,
	"/proc/meminfo":                true,
	"/proc/stat":                   true,
	"/proc/swaps":                  true,
	"/proc/uptime":                 true,
	"/proc/loadavg":                true,
	"/proc/slabinfo":               true,
	"/proc/net/dev":                true,
	"/proc/sys/kernel/ns_last_pid": true,
}

// checkProcDest refuses mounts that would cover procfs with something that
// is not procfs (a fake /proc, or a fake /proc/self/attr/... hiding LSM
// writes). rel is the resolved destination relative to the root; it is
// empty after Pivot, when this check does not apply.
func checkProcDest(rel string, m *specs.Mount, o *mountOptions) error {
	if rel == "" || (rel != "/proc" && !strings.HasPrefix(rel, "/proc/")) {
		return nil
	}
	if rel == "/proc" {
		if !o.bind && m.Type == "proc" {
			return nil
		}
		if o.bind {
			var st unix.Statfs_t
			if err := unix.Statfs(m.Source, &st); err == nil && st.Type == unix.PROC_SUPER_MAGIC {
				return nil
			}
		}
		return fmt.Errorf("only procfs may be mounted on /proc")
	}
	if procAllowed[rel] {
		return nil
	}
	return fmt.Errorf("%s cannot be mounted because it is inside /proc", rel)
}
