// Package common holds what every cgroup driver shares: the statistics
// types, cgroupfs file helpers and cgroup path validation. The cgroups
// package re-exports the types; drivers import this package directly, which
// keeps the cgroups package free to import the drivers without a cycle.
package common

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// WriteFile writes value to the cgroupfs file dir/file. The file is opened
// O_WRONLY|O_TRUNC and never created: a missing file means the kernel does
// not offer that knob. Errors name both the file and the value.
//
// WriteFile and ReadFile use plain system calls rather than os.File:
// cgroupfs files can be polled, so os would register each one with the Go
// runtime's poller and remove it again, five more calls per file.
func WriteFile(dir, file, value string) error {
	p := filepath.Join(dir, file)
	fd, err := openRetry(p, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	// One write: the kernel takes a cgroupfs value from a single write(2).
	var n int
	for {
		n, err = unix.Write(fd, []byte(value))
		if err != unix.EINTR {
			break
		}
	}
	if err == nil && n < len(value) {
		err = io.ErrShortWrite
	}
	cerr := unix.Close(fd)
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	if cerr != nil {
		return fmt.Errorf("close %s: %w", p, cerr)
	}
	return nil
}

// ReadFile returns the content of the cgroupfs file dir/file without its
// trailing newline.
func ReadFile(dir, file string) (string, error) {
	p := filepath.Join(dir, file)
	fd, err := openRetry(p, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read %s: %w", p, err)
		}
		if n == 0 {
			return strings.TrimRight(string(buf), "\n"), nil
		}
		buf = buf[:len(buf)+n]
	}
}

func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// ReadUint reads dir/file as one unsigned decimal number. "max" reads as
// MaxUint64.
func ReadUint(dir, file string) (uint64, error) {
	s, err := ReadFile(dir, file)
	if err != nil {
		return 0, err
	}
	v, err := ParseUint(s)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, file), err)
	}
	return v, nil
}

// ReadInt reads dir/file as one signed decimal number.
func ReadInt(dir, file string) (int64, error) {
	s, err := ReadFile(dir, file)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, file), err)
	}
	return v, nil
}

// ParseUint parses a cgroupfs number: "max" is MaxUint64 and a negative
// number (the kernel prints -1 for some unlimited values) reads as 0.
func ParseUint(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return ^uint64(0), nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err == nil {
		return v, nil
	}
	if i, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && i < 0 {
		return 0, nil
	}
	return 0, fmt.Errorf("parse %q as a number: %w", s, err)
}

// ReadKeyValues parses a file of "key value" lines (memory.stat, cpu.stat)
// into a map. Lines that do not hold a key and a number are skipped.
func ReadKeyValues(dir, file string) (map[string]uint64, error) {
	s, err := ReadFile(dir, file)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64)
	for _, line := range strings.Split(s, "\n") {
		fields := strings.Fields(line)
		if len(fields) != 2 {
			continue
		}
		v, err := ParseUint(fields[1])
		if err != nil {
			continue
		}
		out[fields[0]] = v
	}
	return out, nil
}

// Exists reports whether dir/file exists.
func Exists(dir, file string) bool {
	_, err := os.Stat(filepath.Join(dir, file))
	return err == nil
}
