package procattr

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// WriteSysctls writes each value to /proc/sys/<key>. Keys use the dotted
// form ("net.ipv4.ip_forward"); a key containing "/" is taken in sysctl(8)'s
// slash form, where dots are part of a name ("net/ipv4/conf/eth0.100/forwarding").
//
// Security: the files are reached through a handle on /proc that is verified
// to be procfs (fstatfs PROC_SUPER_MAGIC) and opened relative to it without
// following any symlink and without leaving it (openat2 with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or O_NOFOLLOW per component on kernels
// without openat2); each opened file is checked to be on procfs again. Keys
// with empty, "." or ".." components are refused before anything is written.
func WriteSysctls(sysctls map[string]string) error {
	return writeSysctls("/proc", sysctls, false)
}

// sysctlPath converts a key into its path below /proc/sys, split into
// components.
func sysctlPath(key string) ([]string, error) {
	sep := "."
	if strings.Contains(key, "/") {
		sep = "/"
	}
	parts := strings.Split(key, sep)
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.ContainsRune(p, 0) {
			return nil, fmt.Errorf("invalid sysctl key %q", key)
		}
	}
	return parts, nil
}

func openProcfs(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkProcfs(fd); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: %w", path, err)
	}
	return fd, nil
}

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

// writeSysctls does the work of WriteSysctls below the given proc mount;
// walk forces the per-component fallback (for tests).
func writeSysctls(procPath string, sysctls map[string]string, walk bool) error {
	if len(sysctls) == 0 {
		return nil
	}
	keys := make([]string, 0, len(sysctls))
	paths := map[string][]string{}
	for k := range sysctls {
		p, err := sysctlPath(k)
		if err != nil {
			return err
		}
		keys = append(keys, k)
		paths[k] = p
	}
	sort.Strings(keys)
	proc, err := openProcfs(procPath)
	if err != nil {
		return fmt.Errorf("write sysctls: %w", err)
	}
	defer unix.Close(proc)
	for _, k := range keys {
		if err := writeSysctl(proc, append([]string{"sys"}, paths[k]...), sysctls[k], walk); err != nil {
			return fmt.Errorf("write sysctl %q: %w", k, err)
		}
	}
	return nil
}

func writeSysctl(proc int, parts []string, value string, walk bool) error {
	var fd int
	var err error
	if !walk {
		fd, err = unix.Openat2(proc, strings.Join(parts, "/"), &unix.OpenHow{
			Flags:   unix.O_WRONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
	}
	if walk || errors.Is(err, unix.ENOSYS) {
		fd, err = openNoFollow(proc, parts)
	}
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	if err := checkProcfs(fd); err != nil {
		return err
	}
	if _, err := unix.Write(fd, []byte(value)); err != nil {
		return fmt.Errorf("write %q: %w", value, err)
	}
	return nil
}

// openNoFollow opens parts below dir one component at a time, refusing
// symlinks at every step.
func openNoFollow(dir int, parts []string) (int, error) {
	cur := dir
	for i, p := range parts {
		last := i == len(parts)-1
		flags := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if last {
			flags = unix.O_WRONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		fd, err := unix.Openat(cur, p, flags, 0)
		if cur != dir {
			unix.Close(cur)
		}
		if err != nil {
			return -1, fmt.Errorf("%s: %w", strings.Join(parts[:i+1], "/"), err)
		}
		cur = fd
	}
	return cur, nil
}
