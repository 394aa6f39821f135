package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// contender is one program under test: an OCI runtime driven through its
// runc-compatible CLI, or the floor program.
type contender struct {
	Name    string `json:"name"`
	Bin     string `json:"path"`
	Root    string `json:"-"` // --root state directory; empty for the floor
	Floor   bool   `json:"floor,omitempty"`
	Version string `json:"version"`
}

// argv is the runtime's command line for one subcommand.
func (c contender) argv(args ...string) []string {
	return append([]string{c.Bin, "--root", c.Root}, args...)
}

// liveSet remembers the containers that exist, so that they can be removed
// whatever happens.
type liveSet struct {
	mu sync.Mutex
	m  map[string]liveContainer
}

type liveContainer struct {
	c    contender
	init int // init pid when known
	inst instance
}

func (l *liveSet) add(id string, lc liveContainer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]liveContainer{}
	}
	l.m[id] = lc
}

func (l *liveSet) setInit(id string, pid int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lc, ok := l.m[id]; ok {
		lc.init = pid
		l.m[id] = lc
	}
}

func (l *liveSet) remove(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, id)
}

func (l *liveSet) all() map[string]liveContainer {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]liveContainer, len(l.m))
	for k, v := range l.m {
		out[k] = v
	}
	return out
}

// readPidFile reads the init pid that `create --pid-file` wrote.
func readPidFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: bad content %q", path, data)
	}
	return pid, nil
}

// vmHWMKiB reads the peak resident set size (VmHWM) of a live process.
func vmHWMKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmHWM:") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			break
		}
		v, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM of %d: %w", pid, err)
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

// parseStraceTotal returns the number of calls in the "total" line of an
// `strace -c` summary.
func parseStraceTotal(summary string) (int, error) {
	for _, line := range strings.Split(summary, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[len(f)-1] != "total" {
			continue
		}
		// % time, seconds, usecs/call, calls, [errors,] total
		n, err := strconv.Atoi(f[3])
		if err != nil {
			return 0, fmt.Errorf("strace total line %q: %w", line, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("no total line in strace summary")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
