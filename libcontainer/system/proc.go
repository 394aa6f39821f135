// Package system holds small Linux helpers used by the container lifecycle:
// reading process facts from /proc and working with pidfds.
package system

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// statFields reads /proc/PID/stat and returns the fields that follow the
// command name, so that index 0 is field 3 of proc(5) (the state).
//
// The command name (field 2) is in parentheses and may itself contain spaces
// and ')' characters, so the split starts after the LAST ')'.
func statFields(pid int) ([][]byte, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse stat of pid %d: no ')' after the command name", pid)
	}
	return bytes.Fields(data[i+1:]), nil
}

// Stat returns the one-letter state of pid (field 3 of /proc/PID/stat: 'R' running, 'S' sleeping,
// 'Z' zombie, ...) and its start time in clock ticks after boot (field 22), from one read. Together
// with the pid the start time identifies one process and guards against pid reuse.
func Stat(pid int) (state byte, start uint64, err error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, 0, err
	}
	const idx = 22 - 3
	if len(f) <= idx || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("parse stat of pid %d: malformed (%d fields)", pid, len(f)+2)
	}
	start, err = strconv.ParseUint(string(f[idx]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse start time of pid %d: %w", pid, err)
	}
	return f[0][0], start, nil
}

// StartTime returns the start time of pid (see Stat).
func StartTime(pid int) (uint64, error) {
	_, start, err := Stat(pid)
	return start, err
}
