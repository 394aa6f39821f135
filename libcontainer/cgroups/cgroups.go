// Package cgroups is husk's one interface to control groups, whichever
// driver runs them. New picks the driver from the host; Load rebuilds a
// Manager from the paths saved in state.json.
//
// Drivers: cgroupfs v1 (legacy and hybrid hosts), cgroupfs v2 (unified
// hosts) and systemd (transient units over D-Bus; unified hosts only).
package cgroups

import (
	"errors"
	"fmt"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	"github.com/husk-runtime/husk/libcontainer/cgroups/systemd"
	v1 "github.com/husk-runtime/husk/libcontainer/cgroups/v1"
	v2 "github.com/husk-runtime/husk/libcontainer/cgroups/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Manager is one container's cgroup(s), whichever driver.
type Manager interface {
	// Apply creates the cgroup(s) if missing and moves pid into them (every
	// v1 hierarchy). A pid <= 0 only creates them.
	Apply(pid int) error
	// Set applies resources. Absent sections, nil fields and zero values
	// leave the current setting unchanged, so it serves create and update.
	Set(r *specs.LinuxResources) error
	// Freeze stops every process and returns once the kernel reports FROZEN.
	Freeze() error
	// Thaw resumes every process and returns once the kernel reports THAWED.
	Thaw() error
	// FreezerState returns FreezerFrozen, FreezerThawed or FreezerUndefined.
	FreezerState() (string, error)
	// Pids lists every pid in the container's cgroup(s), sub-cgroups included.
	Pids() ([]int, error)
	// Kill signals every process (freeze, signal, thaw when a freezer exists).
	Kill(sig unix.Signal) error
	// Destroy removes the cgroup directories, sub-cgroups first. It kills
	// nothing; the caller kills and reaps first.
	Destroy() error
	// Paths maps controller to absolute directory (v1), or "" to the
	// directory (v2). It is what state.json stores.
	Paths() map[string]string
	// Stats reads the current counters.
	Stats() (*Stats, error)
}

// Freezer states returned by Manager.FreezerState (runc's strings).
const (
	FreezerUndefined = common.Undefined
	FreezerFrozen    = common.Frozen
	FreezerThawed    = common.Thawed
)

// Stats and its parts are defined in package common so that drivers can
// return them without importing this package.
type (
	// Stats is one snapshot of a container's cgroup counters.
	Stats = common.Stats
	// CPUStats are CPU usage and throttling counters.
	CPUStats = common.CPUStats
	// MemoryStats are memory counters.
	MemoryStats = common.MemoryStats
	// MemoryData is one memory counter family.
	MemoryData = common.MemoryData
	// PidsStats are the task counters.
	PidsStats = common.PidsStats
	// BlkIOStats are block I/O counters.
	BlkIOStats = common.BlkIOStats
	// BlkIOEntry is one per-device block I/O counter.
	BlkIOEntry = common.BlkIOEntry
	// HugetlbStats are the counters for one huge page size.
	HugetlbStats = common.HugetlbStats
)

// ErrUnsupportedDriver is returned for cgroup setups husk cannot drive,
// such as a state file with cgroup v2 paths on a cgroup v1 host.
var ErrUnsupportedDriver = errors.New("not supported")

// ErrUnifiedOnV1 is returned by Set on a v1 host when resources.unified is
// used.
var ErrUnifiedOnV1 = v1.ErrUnifiedOnV1

var (
	_ Manager     = (*v1.Manager)(nil)
	_ Manager     = (*v2.Manager)(nil)
	_ Manager     = (*systemd.Manager)(nil)
	_ OOMNotifier = (*v2.Manager)(nil)
	_ Splitter    = (*v1.Manager)(nil)
	_ OOMNotifier = (*systemd.Manager)(nil)
)

// OOMNotifier is implemented by the managers that can report OOM kills from
// a counter (cgroup v2 memory.events oom_kill): the v2 and systemd drivers.
type OOMNotifier interface {
	// OOMKillCount returns how many processes the OOM killer killed.
	OOMKillCount() (uint64, error)
	// NotifyOOM sends the new count each time it grows, until stop is
	// closed or the cgroup is removed (then the channel is closed).
	NotifyOOM(stop <-chan struct{}) (<-chan uint64, error)
}

// Splitter is implemented by the cgroup v1 driver, whose hierarchies are independent: a process can
// join one controller's hierarchy later than the others. create uses it to join the memory
// controller only once the memory limit is set, so that what init allocated while setting up is
// not charged to the container.
type Splitter interface {
	// HasController tells whether the container has a cgroup in a hierarchy holding ctrl.
	HasController(ctrl string) bool
	// ApplyExcept is Apply for every hierarchy but the one holding ctrl.
	ApplyExcept(pid int, ctrl string) error
	// ApplyController moves pid into the hierarchy holding ctrl only.
	ApplyController(pid int, ctrl string) error
}

// ErrSystemdNotRunning is returned for the systemd driver on a host that
// systemd did not boot.
var ErrSystemdNotRunning = systemd.ErrNotRunning

// ErrSystemdOnV1 is returned for the systemd driver on a cgroup v1 host.
var ErrSystemdOnV1 = systemd.ErrV1NotSupported

// cgroupRoot is where the host's cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// IsV2 reports whether /sys/fs/cgroup itself is a cgroup2 mount (a unified
// host). Hybrid hosts, with cgroup2 only at /sys/fs/cgroup/unified, are v1.
func IsV2() (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", cgroupRoot, err)
	}
	return st.Type == unix.CGROUP2_SUPER_MAGIC, nil
}

// New returns the Manager for a container, choosing the driver from the
// host (and useSystemd). For cgroupfs, cgroupsPath is read as runc reads it:
// an absolute path is relative to each hierarchy's root; a relative path is
// relative to the caller's own cgroup in each hierarchy (on v2: to its
// parent, since the caller's cgroup holds processes); an empty path is the
// container id there. A path that escapes with "..", or that names a
// hierarchy root or the caller's own cgroup, is an error. With useSystemd,
// cgroupsPath is "slice:prefix:name" (see systemd.ParseCgroupsPath).
// Nothing is created until Apply. With rootless, hierarchies the caller may
// not write to are skipped by Apply instead of failing it. The systemd driver takes
// org.systemd.property.<Name> unit properties from annotations; the cgroupfs drivers ignore them.
func New(cgroupsPath, id string, useSystemd, rootless bool, annotations map[string]string) (Manager, error) {
	if useSystemd {
		return asManager(systemd.NewManager(cgroupsPath, id, annotations, rootless))
	}
	isV2, err := IsV2()
	if err != nil {
		return nil, err
	}
	if isV2 {
		return asManager(wrap(v2.NewManager(cgroupsPath, id, rootless)))
	}
	return asManager(wrap(v1.NewManager(cgroupsPath, id, rootless)))
}

// Load rebuilds a Manager from the map Paths() returned (as saved in
// state.json). Each path is checked to lie below the mount of the hierarchy
// its key names, so a tampered state file cannot point Destroy elsewhere.
// The key "" marks a cgroup v2 path, which needs a v2 host.
func Load(paths map[string]string, useSystemd, rootless bool) (Manager, error) {
	if useSystemd {
		return asManager(systemd.LoadManager(paths, rootless))
	}
	isV2, err := IsV2()
	if err != nil {
		return nil, err
	}
	_, v2Paths := paths[""]
	switch {
	case isV2:
		return asManager(wrap(v2.LoadManager(paths, rootless)))
	case v2Paths:
		return nil, fmt.Errorf("cgroup v2 paths %v on a cgroup v1 host: %w", paths, ErrUnsupportedDriver)
	}
	return asManager(wrap(v1.LoadManager(paths, rootless)))
}

// asManager returns a driver's manager as a Manager; on error it returns a
// nil Manager, not a Manager holding a nil pointer.
func asManager[M Manager](m M, err error) (Manager, error) {
	if err != nil {
		return nil, err
	}
	return m, nil
}

// wrap prefixes a cgroupfs driver's error with "cgroups: ".
func wrap[M Manager](m M, err error) (M, error) {
	if err != nil {
		return m, fmt.Errorf("cgroups: %w", err)
	}
	return m, nil
}
