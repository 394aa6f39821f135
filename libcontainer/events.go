package libcontainer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
)

// Event is one JSON line of `husk events`, in runc's shape:
// {"type":"stats","id":ID,"data":{...}} or {"type":"oom","id":ID}.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	// Data is *EventStats for "stats" events and absent otherwise.
	Data any `json:"data,omitempty"`
}

// EventStats is the "data" of a stats event (runc's types.Stats JSON).
type EventStats struct {
	CPU     EventCPU                `json:"cpu"`
	CPUSet  EventCPUSet             `json:"cpuset"`
	Memory  EventMemory             `json:"memory"`
	Pids    EventPids               `json:"pids"`
	Blkio   EventBlkio              `json:"blkio"`
	Hugetlb map[string]EventHugetlb `json:"hugetlb"`
	// IntelRdt is always empty: husk has no Intel RDT support.
	IntelRdt struct{} `json:"intel_rdt"`
	// NetworkInterfaces is always null: runc fills it only for network
	// interfaces it configured itself, which an OCI bundle never asks for.
	NetworkInterfaces []any `json:"network_interfaces"`
}

// EventCPU is CPU usage and CFS throttling.
type EventCPU struct {
	Usage      EventCPUUsage   `json:"usage,omitempty"`
	Throttling EventThrottling `json:"throttling,omitempty"`
}

// EventCPUUsage is CPU time in nanoseconds.
type EventCPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

// EventThrottling is CFS bandwidth throttling.
type EventThrottling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// EventCPUSet is the cpuset controller's configuration (v2: cpus and mems only).
type EventCPUSet struct {
	CPUs                  []uint16 `json:"cpus,omitempty"`
	CPUExclusive          uint64   `json:"cpu_exclusive"`
	Mems                  []uint16 `json:"mems,omitempty"`
	MemHardwall           uint64   `json:"mem_hardwall"`
	MemExclusive          uint64   `json:"mem_exclusive"`
	MemoryMigrate         uint64   `json:"memory_migrate"`
	MemorySpreadPage      uint64   `json:"memory_spread_page"`
	MemorySpreadSlab      uint64   `json:"memory_spread_slab"`
	MemoryPressure        uint64   `json:"memory_pressure"`
	SchedLoadBalance      uint64   `json:"sched_load_balance"`
	SchedRelaxDomainLevel int64    `json:"sched_relax_domain_level"`
}

// EventMemoryEntry is one memory counter family, in bytes.
type EventMemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// EventMemory is the memory controller's counters; Raw is memory.stat.
type EventMemory struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     EventMemoryEntry  `json:"usage,omitempty"`
	Swap      EventMemoryEntry  `json:"swap,omitempty"`
	Kernel    EventMemoryEntry  `json:"kernel,omitempty"`
	KernelTCP EventMemoryEntry  `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
}

// EventPids is the number of tasks and the limit (absent when unlimited).
type EventPids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// EventBlkioEntry is one per-device, per-operation counter.
type EventBlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

// EventBlkio is the block I/O counters husk's drivers collect.
type EventBlkio struct {
	IoServiceBytesRecursive []EventBlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []EventBlkioEntry `json:"ioServicedRecursive,omitempty"`
}

// EventHugetlb is the counters for one huge page size.
type EventHugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// errNotRunningID is runc's wording for events/stats on a stopped container.
func (c *Container) errNotRunningID() error {
	return fmt.Errorf("container with id %s is not running", c.ID)
}

// Stats reads the container's cgroup counters in the shape of runc's events.
func (c *Container) Stats() (*EventStats, error) {
	if c.Status() == Stopped {
		return nil, c.errNotRunningID()
	}
	cg, err := c.cgroup()
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return readStats(cg)
}

func readStats(cg cgroups.Manager) (*EventStats, error) {
	s, err := cg.Stats()
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	out := convertStats(s)
	paths := cg.Paths()
	if d, ok := paths["cpuacct"]; ok {
		out.CPU.Usage.PercpuKernel, out.CPU.Usage.PercpuUser = percpuModes(d)
	}
	if d, ok := paths["cpuset"]; ok {
		out.CPUSet = cpusetV1(d)
	} else if d, ok := paths[""]; ok {
		out.CPUSet.CPUs = parseList(readOr(d, "cpuset.cpus.effective"))
		out.CPUSet.Mems = parseList(readOr(d, "cpuset.mems.effective"))
	}
	return out, nil
}

// convertStats maps the drivers' counters to runc's JSON names.
func convertStats(s *cgroups.Stats) *EventStats {
	mem := func(d common.MemoryData) EventMemoryEntry {
		return EventMemoryEntry{Limit: d.Limit, Usage: d.Usage, Max: d.MaxUsage, Failcnt: d.Failcnt}
	}
	blk := func(es []common.BlkIOEntry) []EventBlkioEntry {
		var out []EventBlkioEntry
		for _, e := range es {
			out = append(out, EventBlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
		}
		return out
	}
	out := &EventStats{
		CPU: EventCPU{
			Usage: EventCPUUsage{Total: s.CPU.UsageTotal, Percpu: s.CPU.UsagePerCPU,
				Kernel: s.CPU.UsageKernel, User: s.CPU.UsageUser},
			Throttling: EventThrottling{Periods: s.CPU.ThrottlingPeriods,
				ThrottledPeriods: s.CPU.ThrottledPeriods, ThrottledTime: s.CPU.ThrottledTime},
		},
		Memory: EventMemory{
			Cache:     s.Memory.Cache,
			Usage:     mem(s.Memory.Usage),
			Swap:      mem(s.Memory.SwapUsage),
			Kernel:    mem(s.Memory.KernelUsage),
			KernelTCP: mem(s.Memory.KernelTCPUsage),
			Raw:       s.Memory.Stats,
		},
		Pids: EventPids{Current: s.Pids.Current, Limit: s.Pids.Limit},
		Blkio: EventBlkio{
			IoServiceBytesRecursive: blk(s.BlkIO.IOServiceBytesRecursive),
			IoServicedRecursive:     blk(s.BlkIO.IOServicedRecursive),
		},
		Hugetlb: make(map[string]EventHugetlb, len(s.Hugetlb)),
	}
	for size, h := range s.Hugetlb {
		out.Hugetlb[size] = EventHugetlb{Usage: h.Usage, Max: h.MaxUsage, Failcnt: h.Failcnt}
	}
	return out
}

// readOr reads a cgroup file, "" when it cannot be read.
func readOr(dir, file string) string {
	s, err := common.ReadFile(dir, file)
	if err != nil {
		return ""
	}
	return s
}

// percpuModes reads cpuacct.usage_all ("cpu user system" lines, in ns).
func percpuModes(dir string) (kernel, user []uint64) {
	lines := strings.Split(readOr(dir, "cpuacct.usage_all"), "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		u, err1 := strconv.ParseUint(f[1], 10, 64)
		k, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, nil
		}
		user, kernel = append(user, u), append(kernel, k)
	}
	return kernel, user
}

// cpusetV1 reads a v1 cpuset directory; unreadable files stay zero.
func cpusetV1(d string) EventCPUSet {
	u := func(f string) uint64 {
		v, _ := common.ReadUint(d, f)
		return v
	}
	lvl, _ := common.ReadInt(d, "cpuset.sched_relax_domain_level")
	return EventCPUSet{
		CPUs:                  parseList(readOr(d, "cpuset.cpus")),
		CPUExclusive:          u("cpuset.cpu_exclusive"),
		Mems:                  parseList(readOr(d, "cpuset.mems")),
		MemHardwall:           u("cpuset.mem_hardwall"),
		MemExclusive:          u("cpuset.mem_exclusive"),
		MemoryMigrate:         u("cpuset.memory_migrate"),
		MemorySpreadPage:      u("cpuset.memory_spread_page"),
		MemorySpreadSlab:      u("cpuset.memory_spread_slab"),
		MemoryPressure:        u("cpuset.memory_pressure"),
		SchedLoadBalance:      u("cpuset.sched_load_balance"),
		SchedRelaxDomainLevel: lvl,
	}
}

// parseList expands a kernel list such as "0-3,6" into its members; a
// malformed list yields nil.
func parseList(s string) []uint16 {
	var out []uint16
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return nil
			}
		}
		for v := a; v <= b; v++ {
			out = append(out, uint16(v))
		}
	}
	return out
}

// Events reports the container's events through emit until the container
// stops: a "stats" event every interval (the first one after one interval,
// as runc does) and an "oom" event each time the kernel reports that the
// container's memory cgroup ran out of memory. A stats read that fails is
// logged and skipped. OOM notification is event-driven: on cgroup v1 an
// eventfd registered on memory.oom_control through cgroup.event_control, on
// v2 inotify on memory.events (an increase of its oom or oom_kill counter).
// The end of the container is seen on a pidfd of its init, so nothing
// polls. An error from emit ends the stream with that error.
func (c *Container) Events(interval time.Duration, emit func(*Event) error) error {
	if interval <= 0 {
		return errors.New("duration interval must be greater than 0")
	}
	if c.Status() == Stopped {
		return c.errNotRunningID()
	}
	cg, err := c.cgroup()
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	pfd, err := c.pidfd()
	if err != nil {
		return c.errNotRunningID()
	}
	defer unix.Close(pfd)
	oom, err := watchOOM(cg.Paths())
	if err != nil {
		logrus.Warnf("events: OOM notifications unavailable: %v", err)
	}
	defer func() {
		if oom != nil {
			oom.close()
		}
	}()
	reportOOM := func() error {
		if oom == nil {
			return nil
		}
		happened, err := oom.check()
		if err != nil {
			logrus.Warnf("events: %v", err)
			oom.close()
			oom = nil
			return nil
		}
		if !happened {
			return nil
		}
		return emit(&Event{Type: "oom", ID: c.ID})
	}
	next := time.Now().Add(interval)
	for {
		fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
		if oom != nil {
			fds = append(fds, unix.PollFd{Fd: int32(oom.fd), Events: unix.POLLIN})
		}
		wait := max(time.Until(next), 0)
		timeout := int((wait + time.Millisecond - 1) / time.Millisecond)
		if _, err := unix.Poll(fds, timeout); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("events: poll: %w", err)
		}
		// OOM first: an OOM-killed init makes both fds ready at once.
		if len(fds) > 1 && fds[1].Revents != 0 {
			if err := reportOOM(); err != nil {
				return err
			}
		}
		if fds[0].Revents != 0 {
			return reportOOM()
		}
		if now := time.Now(); !now.Before(next) {
			next = now.Add(interval)
			st, err := readStats(cg)
			if err != nil {
				logrus.Error(err)
				continue
			}
			if err := emit(&Event{Type: "stats", ID: c.ID, Data: st}); err != nil {
				return err
			}
		}
	}
}

// oomWatch is a readable fd that signals memory events and a check that
// says whether an OOM happened since the last check (several OOMs between
// two wake-ups are reported as one event, as runc does).
type oomWatch struct {
	fd    int
	check func() (bool, error)
	close func()
}

// watchOOM sets up OOM notification for the container's memory cgroup.
func watchOOM(paths map[string]string) (*oomWatch, error) {
	if d, ok := paths["memory"]; ok {
		return watchOOMv1(d)
	}
	if d, ok := paths[""]; ok {
		return watchOOMv2(d)
	}
	return nil, errors.New("no memory cgroup")
}

// watchOOMv1 registers an eventfd for memory.oom_control. The kernel also
// signals it when the cgroup is removed; check tells the two apart.
func watchOOMv1(dir string) (*oomWatch, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		unix.Close(efd)
		return nil, err
	}
	defer ctl.Close() // the registration holds its own reference
	if err := common.WriteFile(dir, "cgroup.event_control", fmt.Sprintf("%d %d", efd, ctl.Fd())); err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("register OOM eventfd: %w", err)
	}
	buf := make([]byte, 8)
	return &oomWatch{
		fd: efd,
		check: func() (bool, error) {
			n, err := unix.Read(efd, buf)
			if errors.Is(err, unix.EAGAIN) {
				return false, nil
			}
			if err != nil || n != 8 {
				return false, fmt.Errorf("read OOM eventfd: %v", err)
			}
			if _, err := os.Stat(dir); err != nil {
				return false, errors.New("memory cgroup removed")
			}
			return binary.NativeEndian.Uint64(buf) > 0, nil
		},
		close: func() { unix.Close(efd) },
	}, nil
}

// watchOOMv2 watches memory.events with inotify and counts increases of
// its oom and oom_kill counters.
func watchOOMv2(dir string) (*oomWatch, error) {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(ifd, filepath.Join(dir, "memory.events"), unix.IN_MODIFY); err != nil {
		unix.Close(ifd)
		return nil, fmt.Errorf("watch memory.events: %w", err)
	}
	count := func() (uint64, error) {
		kv, err := common.ReadKeyValues(dir, "memory.events")
		if err != nil {
			return 0, err
		}
		return max(kv["oom"], kv["oom_kill"]), nil
	}
	last, err := count()
	if err != nil {
		unix.Close(ifd)
		return nil, err
	}
	buf := make([]byte, 4096)
	return &oomWatch{
		fd: ifd,
		check: func() (bool, error) {
			for {
				if n, err := unix.Read(ifd, buf); err != nil || n <= 0 {
					break // drained (EAGAIN)
				}
			}
			cur, err := count()
			if err != nil {
				return false, fmt.Errorf("read memory.events: %w", err)
			}
			happened := cur > last
			last = cur
			return happened, nil
		},
		close: func() { unix.Close(ifd) },
	}, nil
}
