package systemd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	v2 "github.com/husk-runtime/husk/libcontainer/cgroups/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// jobTimeout bounds the wait for a unit job (start or stop) to finish.
const jobTimeout = 30 * time.Second

// cgroupRoot is where the unified hierarchy is mounted.
const cgroupRoot = v2.DefaultRoot

// Manager is one container's systemd unit and, inside it, its cgroup on
// the unified hierarchy. Its methods are serialized.
type Manager struct {
	mu    sync.Mutex
	unit  Unit
	fs    *v2.Manager
	extra []sd.Property
}

// checkHost fails unless systemd runs and the host is pure cgroup v2.
func checkHost() error {
	if !IsRunning() {
		return ErrNotRunning
	}
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", cgroupRoot, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return ErrV1NotSupported
	}
	return nil
}

// NewManager parses cgroupsPath ("slice:prefix:name", see
// ParseCgroupsPath) and the org.systemd.property.* annotations. Nothing is
// created until Apply. Rootless containers (a user's systemd instance) are
// not supported.
func NewManager(cgroupsPath, id string, annotations map[string]string, rootless bool) (*Manager, error) {
	if err := checkHost(); err != nil {
		return nil, err
	}
	if rootless {
		return nil, errors.New("systemd cgroup driver: rootless containers (user systemd instance) are not supported")
	}
	u, err := ParseCgroupsPath(cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	extra, err := PropertiesFromAnnotations(annotations)
	if err != nil {
		return nil, err
	}
	fs, err := v2.NewFromDir(filepath.Join(cgroupRoot, u.Path), false)
	if err != nil {
		return nil, err
	}
	return &Manager{unit: u, fs: fs, extra: extra}, nil
}

// LoadManager rebuilds a Manager from the map Paths() returned: the unit
// name is the directory's base name and its slice the parent's.
func LoadManager(paths map[string]string, rootless bool) (*Manager, error) {
	if err := checkHost(); err != nil {
		return nil, err
	}
	if rootless {
		return nil, errors.New("systemd cgroup driver: rootless containers (user systemd instance) are not supported")
	}
	fs, err := v2.LoadManager(paths, false)
	if err != nil {
		return nil, err
	}
	u, err := unitFromDir(cgroupRoot, fs.Path())
	if err != nil {
		return nil, err
	}
	return &Manager{unit: u, fs: fs}, nil
}

// UnitName returns the systemd unit, e.g. "husk-ctr.scope".
func (m *Manager) UnitName() string { return m.unit.Name }

// connect opens a connection to the system bus.
func connect(ctx context.Context) (*sd.Conn, error) {
	c, err := sd.NewWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd over D-Bus: %w", err)
	}
	return c, nil
}

// withConn runs fn with a connection to the system bus and a context that
// expires after timeout; the connection is closed when fn returns.
func withConn(timeout time.Duration, fn func(context.Context, *sd.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}

func isDBusError(err error, name string) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == name
	}
	var dp *dbus.Error
	return errors.As(err, &dp) && dp.Name == name
}

// waitJob waits for a job's JobRemoved result on ch.
func waitJob(ch <-chan string, what, unit string) error {
	timer := time.NewTimer(jobTimeout)
	defer timer.Stop()
	select {
	case res := <-ch:
		if res != "done" {
			return fmt.Errorf("%s systemd unit %s: job result %q", what, unit, res)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("%s systemd unit %s: timed out after %v waiting for the job", what, unit, jobTimeout)
	}
}

// Apply starts the transient unit (a scope holding pid, which must be
// positive, with Delegate=yes and the annotation properties; or a slice)
// and waits for its start job.
// A unit that already exists is reused. The cgroup directory is then
// checked through the cgroupfs driver, which also moves pid (a no-op when
// systemd already did). On failure the unit is stopped and reset.
func (m *Manager) Apply(pid int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pid <= 0 && !m.unit.IsSlice() {
		return fmt.Errorf("systemd scope unit %s needs a process to start with: got pid %d", m.unit.Name, pid)
	}
	return withConn(jobTimeout+5*time.Second, func(ctx context.Context, c *sd.Conn) error {
		props := append(unitProperties(m.unit, pid), m.extra...)
		ch := make(chan string, 1)
		started := true
		if _, err := c.StartTransientUnitContext(ctx, m.unit.Name, "replace", props, ch); err != nil {
			if !isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
				return fmt.Errorf("start systemd unit %s: %w", m.unit.Name, err)
			}
			started = false
		} else if err := waitJob(ch, "start", m.unit.Name); err != nil {
			_ = c.ResetFailedUnitContext(ctx, m.unit.Name)
			return err
		}
		if err := m.fs.Apply(pid); err != nil {
			if started {
				m.stopUnit(ctx, c)
			}
			return err
		}
		return nil
	})
}

// sdVersion reads systemd's major version number (0 when unknown).
func sdVersion(c *sd.Conn) int {
	v, err := c.GetManagerProperty("Version")
	if err != nil {
		logrus.Debugf("systemd version: %v", err)
		return 0
	}
	v = strings.Trim(v, "\"")
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(v[:end])
	return n
}

// Set gives systemd the resources as runtime unit properties, so that a
// daemon reload keeps them, and then writes them all to cgroupfs with the
// v2 driver (for what systemd has no property for, and exact values).
func (m *Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return withConn(jobTimeout, func(ctx context.Context, c *sd.Conn) error {
		props, err := ResourceProperties(r, sdVersion(c))
		if err != nil {
			return err
		}
		if len(props) > 0 {
			if err := c.SetUnitPropertiesContext(ctx, m.unit.Name, true, props...); err != nil {
				return fmt.Errorf("set properties of systemd unit %s: %w", m.unit.Name, err)
			}
		}
		return m.fs.Set(r)
	})
}

// stopUnit stops the unit, waits for the job, and resets a failed state.
func (m *Manager) stopUnit(ctx context.Context, c *sd.Conn) error {
	ch := make(chan string, 1)
	var err error
	if _, serr := c.StopUnitContext(ctx, m.unit.Name, "replace", ch); serr != nil {
		if !isDBusError(serr, "org.freedesktop.systemd1.NoSuchUnit") {
			err = fmt.Errorf("stop systemd unit %s: %w", m.unit.Name, serr)
		}
	} else {
		err = waitJob(ch, "stop", m.unit.Name)
	}
	if rerr := c.ResetFailedUnitContext(ctx, m.unit.Name); rerr != nil &&
		!isDBusError(rerr, "org.freedesktop.systemd1.NoSuchUnit") &&
		!isDBusError(rerr, "org.freedesktop.systemd1.LoadFailed") {
		logrus.Debugf("reset failed unit %s: %v", m.unit.Name, rerr)
	}
	return err
}

// Destroy stops the unit (waiting for the stop job), resets it if it
// failed, and removes whatever cgroup directories remain. A unit or
// cgroup that is already gone is not an error.
func (m *Manager) Destroy() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return withConn(jobTimeout+5*time.Second, func(ctx context.Context, c *sd.Conn) error {
		return errors.Join(m.stopUnit(ctx, c), m.fs.Destroy())
	})
}

// Paths returns {"": the unit's cgroup directory}.
func (m *Manager) Paths() map[string]string { return m.fs.Paths() }

// Path returns the unit's cgroup directory.
func (m *Manager) Path() string { return m.fs.Path() }

// Freeze freezes the unit's cgroup through cgroup.freeze.
func (m *Manager) Freeze() error { return m.fs.Freeze() }

// Thaw thaws the unit's cgroup.
func (m *Manager) Thaw() error { return m.fs.Thaw() }

// FreezerState reports the unit cgroup's freezer state.
func (m *Manager) FreezerState() (string, error) { return m.fs.FreezerState() }

// Pids lists the processes in the unit's cgroup tree.
func (m *Manager) Pids() ([]int, error) { return m.fs.Pids() }

// Kill signals every process in the unit's cgroup tree (cgroup.kill for
// SIGKILL).
func (m *Manager) Kill(sig unix.Signal) error { return m.fs.Kill(sig) }

// Stats reads the unit cgroup's counters.
func (m *Manager) Stats() (*common.Stats, error) { return m.fs.Stats() }

// OOMKillCount returns memory.events oom_kill of the unit's cgroup.
func (m *Manager) OOMKillCount() (uint64, error) { return m.fs.OOMKillCount() }

// NotifyOOM reports growth of the unit cgroup's OOM kill counter.
func (m *Manager) NotifyOOM(stop <-chan struct{}) (<-chan uint64, error) {
	return m.fs.NotifyOOM(stop)
}
