package rootfs

// Resolution of hostile paths inside the rootfs.
//
// Security rationale: the rootfs belongs to whoever built the image, so any
// component of a destination may be a symlink pointing at the host ("/etc ->
// /host-etc" or "../../.."). Every destination is therefore resolved with
// filepath-securejoin's pathrs-lite (openat2 RESOLVE_IN_ROOT where available),
// which treats the rootfs as "/" for every symlink and "..", creates missing
// directories without ever leaving the root, and hands back an O_PATH file
// descriptor. That descriptor is checked once more (its path as the kernel
// sees it must lie inside the rootfs) and is then the only thing the mount
// code uses: the path string is never resolved again.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"
)

// root is the rootfs opened as an O_PATH directory.
type root struct {
	dir         *os.File
	path        string            // the rootfs path as this mount namespace sees it; "/" after Pivot
	cgroupPaths map[string]string // Config.CgroupPaths
}

// openRoot opens path (a trusted host path) as the root for resolution.
func openRoot(path string) (*root, error) {
	f, err := os.OpenFile(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	return &root{dir: f, path: filepath.Clean(path)}, nil
}

// Close releases the root's file descriptor.
func (r *root) Close() error { return r.dir.Close() }

// cleanDest makes an OCI destination an absolute, lexically clean path
// relative to the rootfs.
func cleanDest(dest string) string {
	return filepath.Clean("/" + dest)
}

// check verifies that f, opened by resolving inside the root, is still
// inside it, and returns its path relative to the root ("/proc").
func (r *root) check(f *os.File) (string, error) {
	if r.path == "/" {
		// After Pivot every path is inside the root by construction.
		return "", nil
	}
	p, err := procfs.ProcSelfFdReadlink(f)
	if err != nil {
		return "", fmt.Errorf("readlink resolved destination: %w", err)
	}
	if p == r.path {
		return "/", nil
	}
	if !strings.HasPrefix(p, r.path+"/") {
		return "", fmt.Errorf("resolved destination %q is outside the rootfs %q", p, r.path)
	}
	return strings.TrimPrefix(p, r.path), nil
}

// open opens an existing dest inside the root (following symlinks inside it).
func (r *root) open(dest string) (*os.File, error) {
	f, err := pathrs.OpenatInRoot(r.dir, dest)
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs: %w", dest, err)
	}
	if _, err := r.check(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// mkdirAll opens dest as a directory inside the root, creating it and its
// parents (mode 0755) when missing.
func (r *root) mkdirAll(dest string) (*os.File, error) {
	f, err := pathrs.MkdirAllHandle(r.dir, dest, 0o755)
	if err != nil {
		return nil, fmt.Errorf("create directory %s in rootfs: %w", dest, err)
	}
	if _, err := r.check(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// mkfile opens dest inside the root as a non-directory, creating an empty
// regular file (and the parent directories) when it is missing.
func (r *root) mkfile(dest string) (*os.File, error) {
	dest = cleanDest(dest)
	if dest == "/" {
		return nil, errors.New("a file cannot be mounted on the rootfs itself")
	}
	f, err := pathrs.OpenatInRoot(r.dir, dest)
	switch {
	case err == nil:
		if err := r.checkNotDir(f, dest); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	case !errors.Is(err, unix.ENOENT):
		return nil, fmt.Errorf("open %s in rootfs: %w", dest, err)
	}
	// dest may end in a dangling symlink inside the root (an image's
	// /etc/resolv.conf -> ../run/..., say): the file is created where the
	// symlink points, interpreted inside the root. The parents are created
	// by handle, the file with O_NOFOLLOW relative to its parent, and the
	// result is opened and checked afresh below, so a racing rename can at
	// worst make this fail, never leave the root.
	joined, err := securejoin.SecureJoin(r.path, dest)
	if err != nil {
		return nil, fmt.Errorf("resolve %s in rootfs: %w", dest, err)
	}
	inRoot := cleanDest(strings.TrimPrefix(joined, r.path))
	parent, err := r.mkdirAll(filepath.Dir(inRoot))
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	fd, err := unix.Openat(int(parent.Fd()), filepath.Base(inRoot),
		unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("create file %s in rootfs: %w", inRoot, err)
	}
	if err == nil {
		unix.Close(fd)
	}
	f, err = pathrs.OpenatInRoot(r.dir, dest)
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs: %w", dest, err)
	}
	if err := r.checkNotDir(f, dest); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkNotDir checks f is inside the root and neither a directory nor a
// symlink (a file bind mount must land on a file).
func (r *root) checkNotDir(f *os.File, dest string) error {
	if _, err := r.check(f); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s: %w", dest, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return fmt.Errorf("cannot mount a file on directory %s: %w", dest, unix.EISDIR)
	case unix.S_IFLNK:
		return fmt.Errorf("destination %s is a symlink: %w", dest, unix.ELOOP)
	}
	return nil
}

// refuseSymlinks fails when any component of dest inside the root is a
// symlink. Used for proc and sysfs, whose destinations must be plain
// directories (CVE-2019-16884, CVE-2019-19921): a /proc that is really a
// symlink would let a later write meant for procfs land somewhere else.
func (r *root) refuseSymlinks(dest string) error {
	fd, err := unix.Openat2(int(r.dir.Fd()), strings.TrimPrefix(dest, "/"), &unix.OpenHow{
		// No O_NOFOLLOW: with O_PATH it would return the trailing symlink
		// itself instead of failing with ELOOP.
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case err == nil:
		unix.Close(fd)
		return nil
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("destination %s is a symlink or passes through one, refusing", dest)
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOSYS):
		// No openat2: the post-resolution comparison in the caller still
		// refuses any destination that resolved through a symlink.
		return nil
	}
	return fmt.Errorf("check destination %s: %w", dest, err)
}
