// Package v2 is the cgroupfs driver for the unified hierarchy (cgroup v2):
// one directory per container below /sys/fs/cgroup, with controllers
// enabled top-down through each parent's cgroup.subtree_control.
package v2

import (
	"bufio"
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
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where the unified hierarchy is mounted on a v2 host.
const DefaultRoot = "/sys/fs/cgroup"

// Manager drives one container's cgroup on a v2 host. Its methods are safe
// for concurrent use; they are serialized.
type Manager struct {
	mu   sync.Mutex
	root string
	dir  string
	// rootless makes permission errors in Apply non-fatal; the cgroup is
	// then marked unusable and Set skips resources with a warning.
	rootless bool
	disabled bool
}

// NewManager resolves cgroupsPath on the unified hierarchy mounted at
// DefaultRoot, as runc's cgroupfs driver does on v2: an absolute path is
// taken from the hierarchy root; a relative path from the parent of the
// caller's own cgroup (the caller's cgroup holds processes, so it cannot
// have controllers enabled for children); an empty path means the relative
// path id. A path that climbs out with "..", or names the root, is an
// error. Nothing is created until Apply.
func NewManager(cgroupsPath, id string, rootless bool) (*Manager, error) {
	return newManager(DefaultRoot, cgroupsPath, id, rootless)
}

func newManager(root, cgroupsPath, id string, rootless bool) (*Manager, error) {
	clean, err := common.ContainerPath(cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	if clean == "/" || clean == "." {
		return nil, fmt.Errorf("cgroups path %q names a cgroup the container cannot own", cgroupsPath)
	}
	var dir string
	if filepath.IsAbs(clean) {
		dir = filepath.Join(root, clean)
	} else {
		own, err := OwnCgroup()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(root, filepath.Dir(own), clean)
	}
	if filepath.Clean(dir) == filepath.Clean(root) {
		return nil, fmt.Errorf("cgroups path %q names the hierarchy root", cgroupsPath)
	}
	return &Manager{root: root, dir: dir, rootless: rootless}, nil
}

// NewFromDir returns a Manager for an absolute cgroup directory that lies
// strictly below the unified hierarchy root (state.json, or the systemd
// driver's unit cgroup). Nothing is created until Apply.
func NewFromDir(dir string, rootless bool) (*Manager, error) {
	return newFromDir(DefaultRoot, dir, rootless)
}

func newFromDir(root, dir string, rootless bool) (*Manager, error) {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) == root || !common.Within(root, dir) {
		return nil, fmt.Errorf("cgroup path %s: not below %s", dir, root)
	}
	return &Manager{root: root, dir: filepath.Clean(dir), rootless: rootless}, nil
}

// LoadManager rebuilds a Manager from the map Paths() returned: exactly one
// key "" naming a directory below the unified hierarchy.
func LoadManager(paths map[string]string, rootless bool) (*Manager, error) {
	dir, ok := paths[""]
	if !ok || len(paths) != 1 {
		return nil, fmt.Errorf("cgroup v2 paths must hold exactly the key \"\", got %v", paths)
	}
	return NewFromDir(dir, rootless)
}

// OwnCgroup returns the caller's cgroup v2 path ("/a/b") from
// /proc/self/cgroup.
func OwnCgroup() (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read own cgroup: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if p, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			return p, nil
		}
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	return "", errors.New("no cgroup v2 entry in /proc/self/cgroup")
}

// Path returns the container's cgroup directory.
func (m *Manager) Path() string { return m.dir }

// Paths returns {"": dir}, what state.json stores for a v2 container.
func (m *Manager) Paths() map[string]string {
	return map[string]string{"": m.dir}
}

// Apply creates the cgroup (and missing ancestors) and, when pid is
// positive, moves pid into it. Every ancestor gets all of its available
// controllers enabled in cgroup.subtree_control, so the container's cgroup
// has them; the container's own cgroup gets none, since a cgroup that holds
// processes cannot enable controllers for children ("no internal
// processes"). Directories this call created are removed again when it
// fails. With rootless, a permission error disables the manager instead.
func (m *Manager) Apply(pid int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.apply(pid)
	if err != nil && m.rootless && common.IsPermission(err) {
		logrus.Warnf("cgroup v2: no permission on %s, resource limits are ignored: %v", m.dir, err)
		m.disabled = true
		return nil
	}
	return err
}

func (m *Manager) apply(pid int) error {
	rel, err := filepath.Rel(m.root, m.dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup %s is not below %s", m.dir, m.root)
	}
	var created []string
	undo := func() {
		for i := len(created) - 1; i >= 0; i-- {
			_ = unix.Rmdir(created[i])
		}
	}
	cur := m.root
	for _, c := range strings.Split(rel, "/") {
		enableControllers(cur)
		cur = filepath.Join(cur, c)
		if err := os.Mkdir(cur, 0o755); err != nil {
			if !errors.Is(err, os.ErrExist) {
				undo()
				return fmt.Errorf("create cgroup %s: %w", cur, err)
			}
			continue
		}
		created = append(created, cur)
	}
	if pid <= 0 {
		return nil
	}
	if err := m.addProc(pid); err != nil {
		undo()
		return err
	}
	return nil
}

// addProc writes pid to cgroup.procs and explains the kernel's refusals.
func (m *Manager) addProc(pid int) error {
	err := common.WriteFile(m.dir, "cgroup.procs", strconv.Itoa(pid))
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EBUSY) {
		if sc, rerr := common.ReadFile(m.dir, "cgroup.subtree_control"); rerr == nil && sc != "" {
			return fmt.Errorf("cannot move pid %d into %s: it has controllers enabled for sub-cgroups (%s), and a cgroup with those cannot hold processes: %w", pid, m.dir, sc, err)
		}
	}
	if errors.Is(err, unix.EOPNOTSUPP) {
		if t, rerr := common.ReadFile(m.dir, "cgroup.type"); rerr == nil && t == "domain invalid" {
			return fmt.Errorf("cannot enter cgroup %s with domain controllers: it is in an invalid state (cgroup.type %q): %w", m.dir, t, err)
		}
	}
	return fmt.Errorf("move pid %d: %w", pid, err)
}

// enableControllers turns on, in dir's cgroup.subtree_control, every
// controller dir has. Failures are tolerated one controller at a time (a
// cgroup with processes, or a controller refused by the kernel); Set names
// a controller that is then missing when a resource needs it.
func enableControllers(dir string) {
	avail, err := common.ReadFile(dir, "cgroup.controllers")
	if err != nil || avail == "" {
		return
	}
	enabled, _ := common.ReadFile(dir, "cgroup.subtree_control")
	on := make(map[string]bool)
	for _, c := range strings.Fields(enabled) {
		on[c] = true
	}
	var want []string
	for _, c := range strings.Fields(avail) {
		if !on[c] {
			want = append(want, "+"+c)
		}
	}
	if len(want) == 0 {
		return
	}
	if common.WriteFile(dir, "cgroup.subtree_control", strings.Join(want, " ")) == nil {
		return
	}
	for _, c := range want {
		if err := common.WriteFile(dir, "cgroup.subtree_control", c); err != nil {
			logrus.Debugf("cgroup v2: enable %s in %s: %v", c, dir, err)
		}
	}
}

// controllers returns the controllers enabled for the container's cgroup.
func (m *Manager) controllers() (map[string]bool, error) {
	s, err := common.ReadFile(m.dir, "cgroup.controllers")
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool)
	for _, c := range strings.Fields(s) {
		out[c] = true
	}
	return out, nil
}

// Pids returns every process in the cgroup and its sub-cgroups, sorted. A
// cgroup that no longer exists contributes nothing.
func (m *Manager) Pids() ([]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pids()
}

func (m *Manager) pids() ([]int, error) {
	out, err := common.TreePids(m.dir)
	if err != nil {
		return nil, err
	}
	sort.Ints(out)
	return out, nil
}

// Kill signals every process in the cgroup tree. SIGKILL uses cgroup.kill
// when the kernel has it (5.14+), which also reaches frozen processes and
// cannot be outrun by fork. Other signals (and SIGKILL on older kernels)
// freeze the cgroup, signal each pid and thaw it again; a container that was
// already paused stays paused unless sig is SIGKILL. The caller's own pid is
// skipped.
func (m *Manager) Kill(sig unix.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := os.Stat(m.dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if sig == unix.SIGKILL && common.Exists(m.dir, "cgroup.kill") {
		return common.WriteFile(m.dir, "cgroup.kill", "1")
	}
	var fz *common.Freezer
	if common.Exists(m.dir, "cgroup.freeze") {
		fz = &common.Freezer{
			State: func() (string, error) { return freezerState(m.dir) },
			Set:   func(freeze bool) error { return setFreeze(m.dir, freeze) },
		}
	}
	return common.KillTree(sig, m.pids, fz)
}

// rmdirBudget bounds how long one Destroy keeps retrying rmdir on EBUSY.
const rmdirBudget = 2 * time.Second

// Destroy removes the cgroup and every sub-cgroup, deepest first. It kills
// nothing: rmdir of a cgroup with live tasks fails with EBUSY, which is
// retried with backoff for a bounded time, since tasks that were just killed
// leave asynchronously. A missing cgroup is not an error.
func (m *Manager) Destroy() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return common.RemoveTree(m.dir, time.Now().Add(rmdirBudget))
}
