package rootfs

// After Pivot: readonlyPaths, maskedPaths, root.readonly and the console.
// "/" is now the container's root, so resolution is inside it by
// construction; paths are still opened O_PATH once and the descriptor is
// what gets mounted on.

import (
	"errors"
	"fmt"
	"os"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Finalize applies readonlyPaths (a recursive read-only bind of each path
// onto itself, keeping its other mount flags), maskedPaths (a read-only
// tmpfs over directories, the container's verified /dev/null over
// anything else) and root.readonly (a read-only remount of "/" keeping its
// other flags). Missing paths are skipped. Call it after Pivot.
func Finalize(c *Config) error {
	if err := c.validate(); err != nil {
		return err
	}
	r, err := openRoot("/")
	if err != nil {
		return err
	}
	defer r.Close()
	var ro, masked []string
	if c.Spec.Linux != nil {
		ro, masked = c.Spec.Linux.ReadonlyPaths, c.Spec.Linux.MaskedPaths
	}
	for _, p := range ro {
		if err := r.readonlyPath(p); err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	var devNull *os.File
	defer func() {
		if devNull != nil {
			devNull.Close()
		}
	}()
	for _, p := range masked {
		if err := r.maskPath(p, &devNull); err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	if c.Spec.Root != nil && c.Spec.Root.Readonly {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := setAttr(int(r.dir.Fd()), attr, false); err != nil {
			return fmt.Errorf("make / read-only: %w", err)
		}
	}
	return nil
}

// openExisting opens p inside the root; a missing path gives (nil, nil).
func (r *root) openExisting(p string) (*os.File, error) {
	f, err := pathrs.OpenatInRoot(r.dir, p)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	return f, err
}

func (r *root) readonlyPath(p string) error {
	f, err := r.openExisting(p)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	tree, err := cloneTree(int(f.Fd()), "", true)
	if err != nil {
		return err
	}
	defer tree.Close()
	if err := setAttr(int(tree.Fd()), &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}, true); err != nil {
		return err
	}
	return attach(tree, f)
}

func (r *root) maskPath(p string, devNull **os.File) error {
	f, err := r.openExisting(p)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	var mnt *os.File
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		mnt, err = newFilesystem(&fsParams{
			fstype:  "tmpfs",
			source:  "tmpfs",
			sbFlags: []string{"ro"},
			attrs:   unix.MOUNT_ATTR_RDONLY,
		})
	} else {
		if *devNull == nil {
			if *devNull, err = r.openDevNull(); err != nil {
				return err
			}
		}
		mnt, err = cloneTree(int((*devNull).Fd()), "", false)
	}
	if err != nil {
		return err
	}
	defer mnt.Close()
	return attach(mnt, f)
}

// openDevNull opens the container's /dev/null and verifies it is the real
// null device (char 1:3): masking with anything else would expose it.
func (r *root) openDevNull() (*os.File, error) {
	f, err := pathrs.OpenatInRoot(r.dir, "/dev/null")
	if err != nil {
		return nil, fmt.Errorf("open /dev/null: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat /dev/null: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		f.Close()
		return nil, errors.New("/dev/null is not the null device (char 1:3)")
	}
	return f, nil
}

// MountConsole bind-mounts the terminal peer (an open descriptor of a
// /dev/pts/N, obtained with TIOCGPTPEER) onto /dev/console, creating
// /dev/console as an empty regular file if it is missing. Call it after
// Pivot.
func MountConsole(peer *os.File) error {
	r, err := openRoot("/")
	if err != nil {
		return err
	}
	defer r.Close()
	dev, err := r.mkdirAll("/dev")
	if err != nil {
		return fmt.Errorf("mount console: %w", err)
	}
	defer dev.Close()
	dfd := int(dev.Fd())
	fd, err := unix.Openat(dfd, "console", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		cfd, cerr := unix.Openat(dfd, "console", unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		if cerr != nil {
			return fmt.Errorf("mount console: create /dev/console: %w", cerr)
		}
		unix.Close(cfd)
		fd, err = unix.Openat(dfd, "console", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return fmt.Errorf("mount console: open /dev/console: %w", err)
	}
	target := os.NewFile(uintptr(fd), "/dev/console")
	defer target.Close()
	if err := r.checkNotDir(target, "/dev/console"); err != nil {
		return fmt.Errorf("mount console: %w", err)
	}
	tree, err := cloneTree(int(peer.Fd()), "", false)
	if err != nil {
		return fmt.Errorf("mount console: %w", err)
	}
	defer tree.Close()
	if err := attach(tree, target); err != nil {
		return fmt.Errorf("mount console: %w", err)
	}
	return nil
}
