// Package exeseal gives `husk init` a copy of the husk binary that a container cannot overwrite
// (CVE-2019-5736: a container that can open /proc/<pid>/exe of a runtime process for writing could replace
// the host's binary).
//
// The preferred seal costs no copy: a private, detached, read-only overlayfs mount whose only layers are
// the binary's own directory, created with the new mount API and never attached to any mount namespace.
// The binary is opened O_PATH from that mount and executed through /proc/self/fd. /proc/<pid>/exe then
// names a file on a read-only overlay: writes fail with EROFS, and the host inode is unreachable.
// Where overlayfs cannot be used (e.g. the binary lives on a filesystem that cannot be an overlay layer),
// the fallback is a sealed memfd copy (F_SEAL_SEAL|SHRINK|GROW|WRITE), which costs a copy of the binary.
package exeseal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Open returns an O_PATH (overlay) or sealed memfd file of the running binary, close-on-exec, to be executed
// as /proc/self/fd/N.
func Open() (*os.File, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	if f, err := overlaySeal(self); err == nil {
		return f, nil
	}
	return memfdSeal(self)
}

func overlaySeal(self string) (*os.File, error) {
	dir, name := filepath.Split(self)
	dir = filepath.Clean(dir)
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	// Without an upper layer overlayfs wants two lower layers, and they must not overlap: the second is
	// the root of a fresh, detached, empty tmpfs.
	empty, err := emptyDetachedDir()
	if err != nil {
		return nil, err
	}
	defer unix.Close(empty)
	lower := dir + ":" + fmt.Sprintf("/proc/self/fd/%d", empty)
	if err := unix.FsconfigSetString(fsfd, "lowerdir", lower); err != nil {
		return nil, fmt.Errorf("overlay lowerdir %s: %w", dir, err)
	}
	if err := unix.FsconfigSetString(fsfd, "source", "husk-exe"); err != nil {
		return nil, fmt.Errorf("overlay source: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fmt.Errorf("overlay create: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mfd)
	fd, err := unix.Openat(mfd, name, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("open sealed %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "husk-sealed"), nil
}

// emptyDetachedDir returns a mount fd of a new, empty, read-only tmpfs that is attached nowhere.
func emptyDetachedDir() (int, error) {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "size", "4k"); err != nil {
		return -1, fmt.Errorf("tmpfs size: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("tmpfs create: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOEXEC|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return -1, fmt.Errorf("fsmount tmpfs: %w", err)
	}
	return mfd, nil
}

func memfdSeal(self string) (*os.File, error) {
	src, err := os.Open(self)
	if err != nil {
		return nil, fmt.Errorf("open own binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("husk-sealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "husk-sealed")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy own binary to memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return f, nil
}
