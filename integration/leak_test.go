//go:build linux

package integration

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// leakCheck verifies that the test left nothing behind: no mount under its
// state root or bundles, no state directory in its root, no cgroup under
// /husk-it with its prefix, no process naming its prefix or root or living in
// its cgroups, and no descriptor opened in this process since newHarness.
// Whatever it finds is reported and then removed, so one leaky test does not
// fail the ones after it.
func (h *harness) leakCheck() {
	t := h.t
	t.Helper()
	l := h.findLeaks()
	if len(l.all) == 0 {
		return
	}
	t.Errorf("LEAK CHECK: left behind:\n  %s", strings.Join(l.all, "\n  "))
	h.rescue(l)
}

// leaks is what findLeaks found, by kind, and all of it as sorted text.
type leaks struct {
	procs   []procInfo
	mounts  []string
	states  []string
	cgroups []string
	fds     []string
	all     []string
}

func (h *harness) findLeaks() leaks {
	h.mu.Lock()
	dirs := append([]string{h.root, h.tmp}, h.bundles...)
	h.mu.Unlock()
	var l leaks
	l.procs = h.leakedProcesses()
	for _, p := range l.procs {
		l.all = append(l.all, fmt.Sprintf("process %d (%s)", p.pid, p.cmdline))
	}
	l.mounts = leakedMounts(dirs)
	for _, m := range l.mounts {
		l.all = append(l.all, "mount "+m)
	}
	l.states = leakedStateDirs(h.root)
	for _, d := range l.states {
		l.all = append(l.all, "state dir "+d)
	}
	l.cgroups = h.leakedCgroups()
	for _, c := range l.cgroups {
		l.all = append(l.all, "cgroup "+c)
	}
	for fd, target := range openFDs() {
		if _, ok := h.fds[fd]; !ok {
			l.fds = append(l.fds, fd)
			l.all = append(l.all, fmt.Sprintf("fd %s -> %s", fd, target))
		}
	}
	sort.Strings(l.all)
	return l
}

// rescue removes what findLeaks found, so later tests start clean. Leaked
// descriptors are not closed: they may belong to someone else in this
// process, and reporting them is enough.
func (h *harness) rescue(l leaks) {
	h.mu.Lock()
	ids := append([]string(nil), h.ids...)
	h.mu.Unlock()
	if len(l.states) > 0 {
		for _, id := range ids {
			_, _, _, _ = h.invoke("--root", h.root, "delete", "--force", id)
		}
	}
	for _, p := range h.leakedProcesses() {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	for _, c := range l.cgroups {
		killCgroup(c)
	}
	for _, c := range l.cgroups {
		removeCgroup(c)
	}
	for i := len(l.mounts) - 1; i >= 0; i-- {
		_ = unix.Unmount(l.mounts[i], unix.MNT_DETACH)
	}
	for _, d := range l.states {
		_ = os.RemoveAll(d)
	}
}

type procInfo struct {
	pid     int
	cmdline string
}

// leakedProcesses lists processes whose command line mentions the test's
// prefix or state root, or that live in one of the test's cgroups.
func (h *harness) leakedProcesses() []procInfo {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		h.t.Errorf("read /proc: %v", err)
		return nil
	}
	self := os.Getpid()
	cgMark := "/" + cgroupParent + "/" + h.prefix
	var out []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone, or a kernel thread we may not read
		}
		cmdline := strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
		cg, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if strings.Contains(cmdline, h.prefix) || strings.Contains(cmdline, h.root) ||
			strings.Contains(string(cg), cgMark) {
			if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && isZombie(string(stat)) {
				// A zombie holds nothing but a pid; its parent (not the
				// runtime's concern once reparented) reaps it.
				continue
			}
			out = append(out, procInfo{pid: pid, cmdline: cmdline})
		}
	}
	return out
}

func isZombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i >= 0 && len(stat) > i+2 && stat[i+2] == 'Z'
}

// leakedMounts lists mount points at or under any of dirs.
func leakedMounts(dirs []string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []string{fmt.Sprintf("(read mountinfo: %v)", err)}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		for _, d := range dirs {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				out = append(out, mp)
				break
			}
		}
	}
	return out
}

// unescapeMountinfo decodes the octal escapes (\040 etc.) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// leakedStateDirs lists directories left in the state root.
func leakedStateDirs(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return []string{fmt.Sprintf("(read %s: %v)", root, err)}
	}
	var out []string
	for _, e := range entries {
		// .seccomp-cache holds compiled filters shared by containers: a cache, not a container's state.
		if e.IsDir() && e.Name() != ".seccomp-cache" {
			out = append(out, filepath.Join(root, e.Name()))
		}
	}
	return out
}

// leakedCgroups lists the test's cgroup directories in every hierarchy.
func (h *harness) leakedCgroups() []string {
	var out []string
	for _, pattern := range []string{
		filepath.Join(cgroupRoot, "*", cgroupParent, h.prefix+"*"),          // v1: every hierarchy
		filepath.Join(cgroupRoot, cgroupParent, h.prefix+"*"),               // v2: unified
		filepath.Join(cgroupRoot, "*.slice", cgroupParent+"-"+h.prefix+"*"), // systemd scopes
	} {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return []string{fmt.Sprintf("(glob cgroups: %v)", err)}
		}
		out = append(out, matches...)
	}
	return out
}

// killCgroup SIGKILLs every process in cgroup dir (and its children).
func killCgroup(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return nil
	})
}

// removeCgroup removes cgroup dir depth first, retrying while killed
// processes exit.
func removeCgroup(dir string) {
	var sub []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			sub = append(sub, p)
		}
		return nil
	})
	for i := len(sub) - 1; i >= 0; i-- {
		for try := 0; try < 50; try++ {
			if err := os.Remove(sub[i]); err == nil || os.IsNotExist(err) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// openFDs maps each open descriptor of this process to its target.
func openFDs() map[string]string {
	dir := fmt.Sprintf("/proc/%d/fd", os.Getpid())
	entries, err := os.ReadDir(dir)
	out := map[string]string{}
	if err != nil {
		return out
	}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || target == dir {
			continue // the directory being listed, or already closed
		}
		out[e.Name()] = target
	}
	return out
}
