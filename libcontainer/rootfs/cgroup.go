package rootfs

// Mounts of type "cgroup".
//
// On a cgroup v1 (or hybrid) host the container gets what runc gives it: a
// tmpfs at the destination holding one directory per v1 hierarchy. Without a
// cgroup namespace each directory is a bind mount of the host hierarchy at
// the container's own cgroup path (so the container sees its cgroup as the
// root); with a cgroup namespace each is a real cgroup v1 filesystem, which
// the kernel roots at the namespace. Co-mounted controllers ("cpu,cpuacct")
// also get one symlink per controller. On a pure cgroup v2 host the
// destination gets a cgroup2 filesystem.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
)

// cgroupHierarchy is one v1 hierarchy the calling process belongs to.
type cgroupHierarchy struct {
	name        string   // directory name: base of the host mountpoint ("cpu,cpuacct")
	source      string   // host directory of this process's cgroup in it
	controllers []string // "cpu", "cpuacct" or "name=systemd"
}

// cgroupEntry mounts a "cgroup" type mount at dest.
func (r *root) cgroupEntry(m *specs.Mount, dest string, o *mountOptions, cgroupns bool) error {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return fmt.Errorf("statfs /sys/fs/cgroup: %w", err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return r.cgroup2Entry(m, dest, o)
	}
	hier, err := v1Hierarchies(cgroupns, r.cgroupPaths)
	if err != nil {
		return err
	}

	target, err := r.mkdirAll(dest)
	if err != nil {
		return err
	}
	defer target.Close()
	if _, err := r.check(target); err != nil {
		return err
	}
	tmpfs, err := newFilesystem(&fsParams{
		fstype: "tmpfs",
		source: "tmpfs",
		data:   []string{"mode=755"},
		attrs:  unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC,
	})
	if err != nil {
		return err
	}
	defer tmpfs.Close()
	if err := attach(tmpfs, target); err != nil {
		return err
	}
	for _, h := range hier {
		if err := mountHierarchy(int(tmpfs.Fd()), h, o, cgroupns); err != nil {
			return fmt.Errorf("hierarchy %s: %w", h.name, err)
		}
	}
	if err := applyPropagation(tmpfs, o); err != nil {
		return err
	}
	if o.msFlags&unix.MS_RDONLY != 0 {
		return setAttr(int(tmpfs.Fd()), &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}, false)
	}
	return nil
}

// mountHierarchy fills the directory for one hierarchy inside the cgroup
// tmpfs (dir is the tmpfs root, which we just created: nothing else can
// have put symlinks in it).
func mountHierarchy(dir int, h cgroupHierarchy, o *mountOptions, cgroupns bool) error {
	if err := unix.Mkdirat(dir, h.name, 0o755); err != nil {
		return fmt.Errorf("mkdir: %w", err)
	}
	fd, err := unix.Openat(dir, h.name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	sub := os.NewFile(uintptr(fd), h.name)
	defer sub.Close()

	var mnt *os.File
	if cgroupns {
		attrs := unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
		if o.msFlags&unix.MS_RDONLY != 0 {
			attrs |= unix.MOUNT_ATTR_RDONLY
		}
		mnt, err = newFilesystem(&fsParams{fstype: "cgroup", source: "cgroup", data: h.controllers, attrs: uint64(attrs)})
	} else {
		mnt, err = cloneTree(unix.AT_FDCWD, h.source, true)
		if err == nil {
			bind := *o
			bind.bind = true
			err = setAttr(int(mnt.Fd()), bind.mountAttr(), false)
			if err != nil {
				mnt.Close()
			}
		}
	}
	if err != nil {
		return err
	}
	defer mnt.Close()
	if err := attach(mnt, sub); err != nil {
		return err
	}
	if !strings.Contains(h.name, ",") {
		return nil
	}
	for _, c := range strings.Split(h.name, ",") {
		if err := unix.Symlinkat(h.name, dir, c); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink %s: %w", c, err)
		}
	}
	return nil
}

// cgroup2Entry mounts cgroup2 at dest, or, where a fresh cgroup2 mount is
// not permitted (a user namespace without a cgroup namespace), binds the
// host directory of the container's cgroup.
func (r *root) cgroup2Entry(m *specs.Mount, dest string, o *mountOptions) error {
	m2 := *m
	m2.Type = "cgroup2"
	m2.Source = "cgroup2"
	err := r.fsEntry(&m2, dest, o)
	if err == nil || !(errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY)) {
		return err
	}
	path, perr := unifiedPath()
	if perr != nil {
		return fmt.Errorf("%w (fallback: %w)", err, perr)
	}
	bind := *o
	bind.bind, bind.recursive = true, true
	m2.Source = filepath.Join("/sys/fs/cgroup", path)
	return r.bindEntry(&m2, dest, &bind)
}

// procCgroupLines parses /proc/self/cgroup into (hierarchy id, controllers,
// path) triples.
func procCgroupLines() ([][3]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines [][3]string
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) == 3 {
			lines = append(lines, [3]string{parts[0], parts[1], parts[2]})
		}
	}
	return lines, s.Err()
}

// unifiedPath is this process's cgroup v2 path.
func unifiedPath() (string, error) {
	lines, err := procCgroupLines()
	if err != nil {
		return "", err
	}
	for _, l := range lines {
		if l[0] == "0" && l[1] == "" {
			return l[2], nil
		}
	}
	return "", errors.New("no cgroup v2 entry in /proc/self/cgroup")
}

// v1Hierarchies lists the v1 hierarchies this process is in, with the host
// directory of its cgroup in each, or of the container's cgroup where paths
// (controller to host directory) names one inside that hierarchy's mount. In
// a cgroup namespace the paths are relative to the namespace and only the
// hierarchy list matters.
func v1Hierarchies(cgroupns bool, paths map[string]string) ([]cgroupHierarchy, error) {
	lines, err := procCgroupLines()
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	mounts, err := common.CgroupV1Mounts(func(m []*mountinfo.Info) bool { return cgroupMountsSettled(lines, m, cgroupns) })
	if err != nil {
		return nil, err
	}
	return v1HierarchiesFrom(lines, mounts, cgroupns, paths), nil
}

// cgroupMountsSettled tells whether each hierarchy of lines (/proc/self/cgroup) has a mount under
// /sys/fs/cgroup in mounts, which no later mount can replace: the rest of the mount table (hundreds of
// mounts on a container host) need not be read.
func cgroupMountsSettled(lines [][3]string, mounts []*mountinfo.Info, cgroupns bool) bool {
	for _, l := range lines {
		if l[1] == "" {
			continue
		}
		mi := findCgroupMount(mounts, strings.Split(l[1], ","), l[2], !cgroupns)
		if mi == nil || !strings.HasPrefix(mi.Mountpoint, "/sys/fs/cgroup/") {
			return false
		}
	}
	return true
}

// v1HierarchiesFrom is v1Hierarchies from /proc/self/cgroup's lines and the cgroup mounts.
func v1HierarchiesFrom(lines [][3]string, mounts []*mountinfo.Info, cgroupns bool, paths map[string]string) []cgroupHierarchy {
	var out []cgroupHierarchy
	for _, l := range lines {
		if l[1] == "" {
			continue // the v2 entry of a hybrid host
		}
		ctrls := strings.Split(l[1], ",")
		mi := findCgroupMount(mounts, ctrls, l[2], !cgroupns)
		if mi == nil {
			continue // hierarchy not mounted on the host
		}
		rel := strings.TrimPrefix(l[2], mi.Root)
		h := cgroupHierarchy{
			name:        filepath.Base(mi.Mountpoint),
			source:      filepath.Join(mi.Mountpoint, rel),
			controllers: ctrls,
		}
		if p := paths[ctrls[0]]; !cgroupns && p != "" && strings.HasPrefix(filepath.Clean(p)+"/", mi.Mountpoint+"/") {
			h.source = filepath.Clean(p)
		}
		out = append(out, h)
	}
	return out
}

// findCgroupMount picks the host mount of the hierarchy with these
// controllers (whose root contains path, when checkRoot), preferring
// /sys/fs/cgroup.
func findCgroupMount(mounts []*mountinfo.Info, ctrls []string, path string, checkRoot bool) *mountinfo.Info {
	var found *mountinfo.Info
	for _, mi := range mounts {
		opts := map[string]bool{}
		for _, o := range strings.Split(mi.VFSOptions, ",") {
			opts[o] = true
		}
		ok := true
		for _, c := range ctrls {
			ok = ok && opts[c]
		}
		if !ok || (checkRoot && mi.Root != "/" && path != mi.Root && !strings.HasPrefix(path, mi.Root+"/")) {
			continue
		}
		if found == nil || strings.HasPrefix(mi.Mountpoint, "/sys/fs/cgroup/") {
			found = mi
		}
		if strings.HasPrefix(found.Mountpoint, "/sys/fs/cgroup/") {
			break
		}
	}
	return found
}
