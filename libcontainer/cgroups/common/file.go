// Package common holds what every cgroup driver shares: the statistics
// types, cgroupfs file helpers and cgroup path validation. The cgroups
// package re-exports the types; drivers import this package directly, which
// keeps the cgroups package free to import the drivers without a cycle.
package common

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// WriteFile writes value to the cgroupfs file dir/file. The file is opened
// O_WRONLY|O_TRUNC and never created: a missing file means the kernel does
// not offer that knob. Errors name both the file and the value.
func WriteFile(dir, file, value string) error {
	p := filepath.Join(dir, file)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, pathErrno(err))
	}
	_, werr := f.WriteString(value)
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, pathErrno(werr))
	}
	if cerr != nil {
		return fmt.Errorf("close %s: %w", p, pathErrno(cerr))
	}
	return nil
}

// ReadFile returns the content of the cgroupfs file dir/file without its
// trailing newline.
func ReadFile(dir, file string) (string, error) {
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, pathErrno(err))
	}
	return strings.TrimRight(string(b), "\n"), nil
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

// pathErrno strips an *os.PathError (whose message repeats the path that the
// caller already names) down to its errno, keeping errors.Is working.
func pathErrno(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
