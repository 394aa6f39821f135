package rootfs

// tmpcopyup: the existing contents of a destination are copied into the new
// tmpfs while the tmpfs is still detached, so nothing can observe or race a
// half-filled directory. The source side is read only through descriptors
// relative to the checked destination, with O_NOFOLLOW on every component:
// a symlink in the image is copied as a symlink, never followed.

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyUp copies the directory tree under src (an O_PATH directory) into dst
// (the root of a detached tmpfs), preserving modes, owners, symlinks and
// device nodes.
func copyUp(src, dst *os.File) error {
	dir, err := unix.Openat(int(src.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open source directory: %w", err)
	}
	d := os.NewFile(uintptr(dir), src.Name())
	defer d.Close()
	return copyDir(d, int(dst.Fd()), 0)
}

// maxCopyDepth bounds the recursion of copyDir.
const maxCopyDepth = 256

// copyDir copies the entries of the open directory src into the directory dst.
func copyDir(src *os.File, dst int, depth int) error {
	if depth > maxCopyDepth {
		return errors.New("directory tree too deep")
	}
	names, err := src.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read directory: %w", err)
	}
	sfd := int(src.Fd())
	for _, name := range names {
		if err := copyEntry(sfd, dst, name, depth); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// copyEntry copies one directory entry and its metadata.
func copyEntry(sdir, ddir int, name string, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(sdir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	mode := st.Mode & 0o7777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(ddir, name, 0o700); err != nil {
			return err
		}
		if err := copySubdir(sdir, ddir, name, depth); err != nil {
			return err
		}
	case unix.S_IFREG:
		if err := copyFile(sdir, ddir, name); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := readlinkat(sdir, name)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(target, ddir, name); err != nil {
			return err
		}
		return unix.Fchownat(ddir, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
	default:
		if err := unix.Mknodat(ddir, name, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil {
			return err
		}
	}
	// The destination tmpfs is detached and private to us: nothing can
	// swap these fresh entries, so following them here is safe.
	if err := unix.Fchownat(ddir, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return unix.Fchmodat(ddir, name, mode, 0)
}

// copySubdir recurses into directory name.
func copySubdir(sdir, ddir int, name string, depth int) error {
	s, err := unix.Openat(sdir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	sf := os.NewFile(uintptr(s), name)
	defer sf.Close()
	d, err := unix.Openat(ddir, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	return copyDir(sf, d, depth+1)
}

// copyFile copies the contents of a regular file.
func copyFile(sdir, ddir int, name string) error {
	s, err := unix.Openat(sdir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	sf := os.NewFile(uintptr(s), name)
	defer sf.Close()
	var st unix.Stat_t
	if err := unix.Fstat(s, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errors.New("changed type while being copied")
	}
	d, err := unix.Openat(ddir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	df := os.NewFile(uintptr(d), name)
	defer df.Close()
	if _, err := io.Copy(df, sf); err != nil {
		return err
	}
	return df.Close()
}

// readlinkat reads a symlink's target of any length.
func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
