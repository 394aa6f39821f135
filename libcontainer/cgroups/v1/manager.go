// Package v1 is the cgroupfs driver for cgroup v1 (legacy and hybrid
// layouts): one directory per mounted hierarchy, written directly.
package v1

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	"golang.org/x/sys/unix"
)

// Manager drives one container's cgroups on a v1 host. It is safe for use
// by one goroutine at a time per method; concurrent calls are serialized.
type Manager struct {
	mu sync.Mutex
	// paths maps every key (controller or "name=X") to the container's
	// directory in that hierarchy.
	paths map[string]string
	// mounts maps every key to its hierarchy's mountpoint.
	mounts   map[string]string
	rootless bool
}

// NewManager resolves cgroupsPath for every mounted v1 hierarchy, as runc's
// cgroupfs driver does: an absolute path is taken from each hierarchy's
// root; a relative path from the caller's own cgroup in that hierarchy; an
// empty path means the relative path id. A path that climbs out of its
// starting point with "..", or that names the hierarchy root or the caller's
// own cgroup, is an error. Nothing is created until Apply.
func NewManager(cgroupsPath, id string, rootless bool) (*Manager, error) {
	clean, err := common.ContainerPath(cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	if clean == "/" {
		return nil, fmt.Errorf("cgroups path %q names the hierarchy root", cgroupsPath)
	}
	if clean == "." {
		return nil, fmt.Errorf("cgroups path %q names the runtime's own cgroup", cgroupsPath)
	}
	hs, err := discover()
	if err != nil {
		return nil, err
	}
	m := &Manager{paths: make(map[string]string), mounts: make(map[string]string), rootless: rootless}
	for _, h := range hs {
		var dir string
		if filepath.IsAbs(clean) {
			dir = filepath.Join(h.mountpoint, clean)
		} else {
			own, err := h.ownDir()
			if err != nil {
				return nil, err
			}
			dir = filepath.Join(own, clean)
		}
		for _, k := range h.keys {
			m.paths[k] = dir
			m.mounts[k] = h.mountpoint
		}
	}
	if len(m.paths) == 0 {
		return nil, errors.New("no cgroup v1 hierarchy is mounted")
	}
	return m, nil
}

// LoadManager rebuilds a Manager from the paths Paths() returned earlier
// (persisted in state.json). Every path must lie strictly below the mount
// of the hierarchy its key names; unknown keys are an error.
func LoadManager(paths map[string]string, rootless bool) (*Manager, error) {
	hs, err := discover()
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]string)
	for _, h := range hs {
		for _, k := range h.keys {
			byKey[k] = h.mountpoint
		}
	}
	m := &Manager{paths: make(map[string]string), mounts: make(map[string]string), rootless: rootless}
	for k, p := range paths {
		mp, ok := byKey[k]
		if !ok {
			return nil, fmt.Errorf("load cgroup path %s: hierarchy %q is not mounted", p, k)
		}
		if !filepath.IsAbs(p) || filepath.Clean(p) == mp || !common.Within(mp, p) {
			return nil, fmt.Errorf("load cgroup path %s: not below %s", p, mp)
		}
		m.paths[k] = filepath.Clean(p)
		m.mounts[k] = mp
	}
	return m, nil
}

// Paths returns a copy of the controller -> directory map.
func (m *Manager) Paths() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.paths))
	for k, v := range m.paths {
		out[k] = v
	}
	return out
}

// dirs returns the distinct directories, sorted (combined hierarchies such
// as cpu,cpuacct appear once).
func (m *Manager) dirs() []string {
	seen := make(map[string]bool)
	var out []string
	for _, d := range m.paths {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// path returns the directory for key and whether the container has one.
func (m *Manager) path(key string) (string, bool) {
	d, ok := m.paths[key]
	return d, ok
}

// Apply creates the container's directory in every hierarchy and, when pid
// is positive, moves pid into all of them. A pid of zero or less creates the
// directories only. New cpuset directories inherit cpuset.cpus and
// cpuset.mems from their parent. With rootless set, a hierarchy where
// permission is denied is dropped from Paths() instead of failing.
func (m *Manager) Apply(pid int) error {
	return m.apply(pid, func(string) bool { return true })
}

// ApplyExcept is Apply for every hierarchy but the one holding controller ctrl (and whatever is
// co-mounted with it): v1 hierarchies are independent, so a process can join the memory hierarchy
// last, after its limit is set, and leave what it allocated before outside the container's
// accounting. ApplyController completes the move.
func (m *Manager) ApplyExcept(pid int, ctrl string) error {
	m.mu.Lock()
	skip := m.paths[ctrl]
	m.mu.Unlock()
	return m.apply(pid, func(dir string) bool { return skip == "" || dir != skip })
}

// ApplyController moves pid into the hierarchy holding controller ctrl only; it is a no-op
// where that controller is not mounted.
func (m *Manager) ApplyController(pid int, ctrl string) error {
	m.mu.Lock()
	want := m.paths[ctrl]
	m.mu.Unlock()
	if want == "" {
		return nil
	}
	return m.apply(pid, func(dir string) bool { return dir == want })
}

// HasController tells whether the container has a cgroup in a hierarchy holding ctrl.
func (m *Manager) HasController(ctrl string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paths[ctrl] != ""
}

// apply creates the container's directory in every hierarchy and moves pid into those want accepts.
func (m *Manager) apply(pid int, want func(dir string) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.paths))
	for k := range m.paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	done := make(map[string]error)
	for _, k := range keys {
		dir := m.paths[k]
		err, ok := done[dir]
		if !ok {
			join := pid
			if !want(dir) {
				join = 0 // created, not joined
			}
			err = m.applyOne(k, dir, join)
			done[dir] = err
		}
		if err == nil {
			continue
		}
		if m.rootless && common.IsPermission(err) {
			delete(m.paths, k)
			continue
		}
		return err
	}
	return nil
}

func (m *Manager) applyOne(key, dir string, pid int) error {
	var err error
	// Any hierarchy with the cpuset controller (alone or co-mounted).
	if mp := m.mounts[key]; common.Exists(mp, "cpuset.cpus") {
		err = mkdirCpuset(mp, dir)
	} else if err = os.MkdirAll(dir, 0o755); err != nil {
		err = fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	if err != nil || pid <= 0 {
		return err
	}
	return common.WriteFile(dir, "cgroup.procs", strconv.Itoa(pid))
}

// mkdirCpuset creates dir level by level below mountpoint. An empty
// cpuset.cpus or cpuset.mems at any level gets its parent's value, or adding
// a task fails with ENOSPC.
func mkdirCpuset(mountpoint, dir string) error {
	rel, err := filepath.Rel(mountpoint, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cpuset cgroup %s is not below %s", dir, mountpoint)
	}
	cur := mountpoint
	for _, c := range strings.Split(rel, "/") {
		parent := cur
		cur = filepath.Join(cur, c)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", cur, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := common.ReadFile(cur, f)
			if err != nil {
				return err
			}
			if v != "" {
				continue
			}
			pv, err := common.ReadFile(parent, f)
			if err != nil {
				return err
			}
			if err := common.WriteFile(cur, f, pv); err != nil {
				return err
			}
		}
	}
	return nil
}

// Pids returns every process in the container's cgroups and their
// sub-cgroups, across all hierarchies, sorted and without duplicates. A
// cgroup that no longer exists contributes nothing.
func (m *Manager) Pids() ([]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pids()
}

func (m *Manager) pids() ([]int, error) {
	set := make(map[int]bool)
	for _, d := range m.dirs() {
		pids, err := common.TreePids(d)
		if err != nil {
			return nil, err
		}
		for _, p := range pids {
			set[p] = true
		}
	}
	out := make([]int, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Ints(out)
	return out, nil
}

// Kill signals every process in the container's cgroups. With a freezer the
// cgroup is frozen first so no process can fork past the signal, then
// thawed; a container that was already paused stays paused unless sig is
// SIGKILL (a frozen process cannot die). The caller's own pid is skipped.
func (m *Manager) Kill(sig unix.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var fz *common.Freezer
	if fdir, ok := m.path("freezer"); ok {
		if _, err := os.Stat(fdir); err == nil {
			fz = &common.Freezer{
				State: func() (string, error) { return freezerState(fdir) },
				Set: func(freeze bool) error {
					if freeze {
						return setFreezer(fdir, common.Frozen)
					}
					return setFreezer(fdir, common.Thawed)
				},
			}
		}
	}
	return common.KillTree(sig, m.pids, fz)
}

// Destroy removes the container's directories in every hierarchy, sub-cgroups
// first. It does not kill anything: rmdir of a cgroup that still holds tasks
// fails with EBUSY, which is retried for a short bounded time (tasks that
// were just killed leave their cgroup asynchronously). Missing directories
// are not an error, so Destroy can be repeated.
func (m *Manager) Destroy() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	deadline := time.Now().Add(rmdirBudget)
	for _, d := range m.dirs() {
		if err := common.RemoveTree(d, deadline); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rmdirBudget bounds how long one Destroy keeps retrying rmdir on EBUSY.
const rmdirBudget = 500 * time.Millisecond
