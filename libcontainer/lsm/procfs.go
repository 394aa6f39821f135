package lsm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procRootIno is the inode number of the root directory of every procfs
// instance (PROC_ROOT_INO in the kernel's fs/proc/internal.h).
const procRootIno = 1

// procRoot is an O_PATH handle on the root of a procfs mount that has been
// verified to be one.
//
// Security: LSM attributes are written through files below /proc, and a
// container image controls the directory tree the container's /proc is
// mounted on (CVE-2019-16884: an image whose /proc is a plain directory made
// runc write the AppArmor profile into an ordinary file, so the container ran
// unconfined). Every step is therefore checked rather than trusted:
//   - the root handle must be on procfs and be its root inode, so neither a
//     fake directory nor a bind mount of some procfs subdirectory passes;
//   - files are opened relative to that handle with openat2
//     RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV,
//     so no symlink is followed and no mount point is crossed: a file or
//     directory bind-mounted over the attribute (even another procfs file)
//     makes the open fail instead of redirecting the write;
//   - where openat2 is unavailable (kernels before 5.6, or a seccomp profile
//     that denies it), each component is opened with O_NOFOLLOW and the final
//     file must sit on the very mount of the root handle (mount ids compared
//     through fdinfo);
//   - the opened file is checked to be on procfs once more before writing.
type procRoot struct {
	fd   int
	path string
}

// openProcRoot opens path and verifies that it is the root of a procfs mount.
func openProcRoot(path string) (*procRoot, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkProcfs(fd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fstat %s: %w", path, err)
	}
	if st.Ino != procRootIno {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: not the root of a procfs mount (inode %d)", path, st.Ino)
	}
	return &procRoot{fd: fd, path: path}, nil
}

// Close releases the handle.
func (p *procRoot) Close() error {
	return unix.Close(p.fd)
}

// checkProcfs fails unless fd is on a procfs filesystem.
func checkProcfs(fd int) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fmt.Errorf("fstatfs: %w", err)
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("not on procfs (filesystem type %#x)", st.Type)
	}
	return nil
}

// threadSelf returns "<tgid>/task/<tid>" for the calling thread as seen by
// this procfs instance (its pid namespace), from the thread-self link, or
// from the self link plus gettid on kernels older than 3.17.
func (p *procRoot) threadSelf() (string, error) {
	link, err := readlinkat(p.fd, "thread-self")
	if err == nil {
		if !validThreadSelf(link) {
			return "", fmt.Errorf("%s/thread-self: unexpected link target %q", p.path, link)
		}
		return link, nil
	}
	if !errors.Is(err, unix.ENOENT) {
		return "", fmt.Errorf("readlink %s/thread-self: %w", p.path, err)
	}
	link, err = readlinkat(p.fd, "self")
	if err != nil {
		return "", fmt.Errorf("readlink %s/self: %w", p.path, err)
	}
	if _, err := strconv.ParseUint(link, 10, 32); err != nil {
		return "", fmt.Errorf("%s/self: unexpected link target %q", p.path, link)
	}
	return link + "/task/" + strconv.Itoa(unix.Gettid()), nil
}

// validThreadSelf reports whether s has the form "<digits>/task/<digits>".
func validThreadSelf(s string) bool {
	tgid, tid, ok := strings.Cut(s, "/task/")
	if !ok {
		return false
	}
	for _, n := range []string{tgid, tid} {
		if _, err := strconv.ParseUint(n, 10, 32); err != nil {
			return false
		}
	}
	return true
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, 128)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	if n == len(buf) {
		return "", fmt.Errorf("readlink %s: target too long", name)
	}
	return string(buf[:n]), nil
}

// open opens rel (a relative path without "." or ".." components) below the
// procfs root with flags; walk forces the per-component fallback (tests).
func (p *procRoot) open(rel string, flags int, walk bool) (int, error) {
	parts := strings.Split(rel, "/")
	for _, c := range parts {
		if c == "" || c == "." || c == ".." {
			return -1, fmt.Errorf("invalid procfs path %q", rel)
		}
	}
	var fd int
	var err error
	if !walk {
		fd, err = unix.Openat2(p.fd, rel, &unix.OpenHow{
			Flags: uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS |
				unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
		})
		if err == nil {
			return fd, nil
		}
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
			return -1, err
		}
	}
	fd, err = p.walk(parts, flags)
	if err != nil {
		return -1, err
	}
	same, err := p.sameMount(fd)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	if !same {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: not on the mount of the procfs root: %w", rel, unix.EXDEV)
	}
	return fd, nil
}

// walk opens parts one component at a time, refusing symlinks at each step.
func (p *procRoot) walk(parts []string, flags int) (int, error) {
	cur := p.fd
	for i, c := range parts {
		f := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(parts)-1 {
			f = flags | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		fd, err := unix.Openat(cur, c, f, 0)
		if cur != p.fd {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur = fd
	}
	return cur, nil
}

// sameMount reports whether fd is on the same mount as the root handle,
// comparing the mnt_id lines of both descriptors' fdinfo (read through the
// verified root, not through whatever /proc the caller sees).
func (p *procRoot) sameMount(fd int) (bool, error) {
	self, err := readlinkat(p.fd, "self")
	if err != nil {
		return false, fmt.Errorf("readlink %s/self: %w", p.path, err)
	}
	if _, err := strconv.ParseUint(self, 10, 32); err != nil {
		return false, fmt.Errorf("%s/self: unexpected link target %q", p.path, self)
	}
	rootID, err := p.mountID(self, p.fd)
	if err != nil {
		return false, err
	}
	fileID, err := p.mountID(self, fd)
	if err != nil {
		return false, err
	}
	return rootID == fileID, nil
}

func (p *procRoot) mountID(pid string, fd int) (uint64, error) {
	info, err := p.walk([]string{pid, "fdinfo", strconv.Itoa(fd)}, unix.O_RDONLY)
	if err != nil {
		return 0, fmt.Errorf("open fdinfo of fd %d: %w", fd, err)
	}
	defer unix.Close(info)
	if err := checkProcfs(info); err != nil {
		return 0, fmt.Errorf("fdinfo of fd %d: %w", fd, err)
	}
	buf := make([]byte, 4096)
	n, err := unix.Read(info, buf)
	if err != nil {
		return 0, fmt.Errorf("read fdinfo of fd %d: %w", fd, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(buf[:n]))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "mnt_id:"); ok {
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("fdinfo of fd %d: bad mnt_id %q", fd, v)
			}
			return id, nil
		}
	}
	return 0, fmt.Errorf("fdinfo of fd %d: no mnt_id", fd)
}

// writeThreadSelf writes value, in a single write, to the first of subpaths
// (relative to /proc/thread-self) that exists, below the procfs mounted at
// procPath. The attributes written this way belong to the calling thread, so
// the caller must be locked to its OS thread. walk forces the openat2-less
// fallback (tests).
func writeThreadSelf(procPath string, subpaths []string, value string, walk bool) error {
	if len(subpaths) == 0 {
		return errors.New("no procfs attribute to write")
	}
	root, err := openProcRoot(procPath)
	if err != nil {
		return err
	}
	defer root.Close()
	thread, err := root.threadSelf()
	if err != nil {
		return err
	}
	var fd int
	var name string
	for _, sub := range subpaths {
		name = procPath + "/thread-self/" + sub
		fd, err = root.open(thread+"/"+sub, unix.O_WRONLY, walk)
		if !errors.Is(err, unix.ENOENT) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer unix.Close(fd)
	if err := checkProcfs(fd); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	n, err := unix.Write(fd, []byte(value))
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if n != len(value) {
		return fmt.Errorf("write %s: short write (%d of %d bytes)", name, n, len(value))
	}
	return nil
}
