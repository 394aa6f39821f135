package rootfs

// /dev: device nodes, the standard symlinks and /dev/ptmx.
//
// Nodes are created with mknodat(2) relative to a descriptor of their parent
// directory resolved inside the root, so a hostile /dev (a symlink to the
// host's /dev, say) cannot make us create a node outside the rootfs. Where
// mknod is not permitted (a user namespace), the host's node is bind-mounted
// onto an empty file instead.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// device is a node to create inside the rootfs.
type device struct {
	path         string
	kind         uint32 // S_IFCHR, S_IFBLK or S_IFIFO
	major, minor int64
	perm         uint32
	uid, gid     uint32
	fromSpec     bool // listed in linux.devices: an existing different node is an error
}

// defaultDevices are the nodes every container gets, as runc gives them.
var defaultDevices = []device{
	{path: "/dev/null", kind: unix.S_IFCHR, major: 1, minor: 3, perm: 0o666},
	{path: "/dev/zero", kind: unix.S_IFCHR, major: 1, minor: 5, perm: 0o666},
	{path: "/dev/full", kind: unix.S_IFCHR, major: 1, minor: 7, perm: 0o666},
	{path: "/dev/random", kind: unix.S_IFCHR, major: 1, minor: 8, perm: 0o666},
	{path: "/dev/urandom", kind: unix.S_IFCHR, major: 1, minor: 9, perm: 0o666},
	{path: "/dev/tty", kind: unix.S_IFCHR, major: 5, minor: 0, perm: 0o666},
}

// needsDev reports whether /dev must be populated: not when the spec binds
// the host's /dev (or some other directory) onto it.
func needsDev(spec *specs.Spec) bool {
	for _, m := range spec.Mounts {
		if cleanDest(m.Destination) == "/dev" && parseOptions(m.Type, m.Options).bind {
			return false
		}
	}
	return true
}

// specDevices merges the default devices with linux.devices (which win for
// the same path).
func specDevices(spec *specs.Spec) ([]device, error) {
	var extra []device
	byPath := map[string]bool{}
	if spec.Linux != nil {
		for _, d := range spec.Linux.Devices {
			dev := device{path: cleanDest(d.Path), major: d.Major, minor: d.Minor, perm: 0o666, fromSpec: true}
			switch d.Type {
			case "c", "u":
				dev.kind = unix.S_IFCHR
			case "b":
				dev.kind = unix.S_IFBLK
			case "p":
				dev.kind, dev.major, dev.minor = unix.S_IFIFO, 0, 0
			default:
				return nil, fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
			}
			if d.FileMode != nil {
				dev.perm = uint32(d.FileMode.Perm())
			}
			if d.UID != nil {
				dev.uid = *d.UID
			}
			if d.GID != nil {
				dev.gid = *d.GID
			}
			extra = append(extra, dev)
			byPath[dev.path] = true
		}
	}
	var out []device
	for _, d := range defaultDevices {
		if !byPath[d.path] {
			out = append(out, d)
		}
	}
	return append(out, extra...), nil
}

// setupDev creates the device nodes, the /dev symlinks and /dev/ptmx.
func (r *root) setupDev(spec *specs.Spec) error {
	devs, err := specDevices(spec)
	if err != nil {
		return err
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devs {
		if err := r.createDevice(d); err != nil {
			return fmt.Errorf("create device %s: %w", d.path, err)
		}
	}

	dev, err := r.mkdirAll("/dev")
	if err != nil {
		return err
	}
	defer dev.Close()
	dfd := int(dev.Fd())
	links := [][2]string{
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dfd, l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	if err := unix.Unlinkat(dfd, "ptmx", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove /dev/ptmx: %w", err)
	}
	if err := unix.Symlinkat("pts/ptmx", dfd, "ptmx"); err != nil {
		return fmt.Errorf("symlink /dev/ptmx: %w", err)
	}
	return nil
}

// createDevice makes one node, falling back to a bind mount of the host's
// node when mknod is not permitted.
func (r *root) createDevice(d device) error {
	parent, err := r.mkdirAll(filepath.Dir(d.path))
	if err != nil {
		return err
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	base := filepath.Base(d.path)
	err = unix.Mknodat(pfd, base, d.kind|d.perm, int(unix.Mkdev(uint32(d.major), uint32(d.minor))))
	switch {
	case err == nil:
		if err := unix.Fchownat(pfd, base, int(d.uid), int(d.gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
		return nil
	case errors.Is(err, unix.EEXIST):
		return checkExisting(pfd, base, d)
	case errors.Is(err, unix.EPERM):
		return r.bindDevice(pfd, base, d)
	}
	return fmt.Errorf("mknod: %w", err)
}

// checkExisting accepts a node that is already there; a linux.devices entry
// must match it (runtime-spec: a different existing file is an error).
func checkExisting(pfd int, base string, d device) error {
	if !d.fromSpec {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat existing: %w", err)
	}
	if st.Mode&unix.S_IFMT != d.kind ||
		(d.kind != unix.S_IFIFO && st.Rdev != unix.Mkdev(uint32(d.major), uint32(d.minor))) {
		return fmt.Errorf("a different file already exists at %s", d.path)
	}
	return nil
}

// bindDevice bind-mounts the host's node at the same path onto an empty
// file created in the rootfs.
func (r *root) bindDevice(pfd int, base string, d device) error {
	fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create mountpoint: %w", err)
	}
	unix.Close(fd)
	fd, err = unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open mountpoint: %w", err)
	}
	target := os.NewFile(uintptr(fd), d.path)
	defer target.Close()
	if err := r.checkNotDir(target, d.path); err != nil {
		return err
	}
	tree, err := cloneTree(unix.AT_FDCWD, d.path, false)
	if err != nil {
		return fmt.Errorf("bind host node: %w", err)
	}
	defer tree.Close()
	return attach(tree, target)
}
