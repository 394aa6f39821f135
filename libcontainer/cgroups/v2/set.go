package v2

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// Set applies r to the container's cgroup, converting v1-style values to
// v2 files the way runc does. A nil section, a nil pointer and, for the
// fields clients send as zeros on update, a zero value leave the current
// setting unchanged, so the same call serves create and update. A field for
// a controller that is not enabled for the cgroup is an error only when it
// asks for something. Set must follow Apply.
func (m *Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.disabled {
		logrus.Warnf("cgroup v2: no permission on %s, resource limits are not applied", m.dir)
		return nil
	}
	ctrls, err := m.controllers()
	if err != nil {
		return err
	}
	s := &setter{dir: m.dir, ctrls: ctrls}
	steps := []func(*specs.LinuxResources) error{
		s.setPids,
		s.setMemory,
		s.setIO,
		s.setCPU,
		s.setCpuset,
		s.setHugetlb,
		s.setRdma,
		s.setNetwork,
		s.setUnified,
		s.setDevices,
	}
	for _, step := range steps {
		if err := step(r); err != nil {
			return err
		}
	}
	return nil
}

// setter carries what every Set step needs.
type setter struct {
	dir   string
	ctrls map[string]bool
}

// need fails unless controller is enabled for the cgroup.
func (s *setter) need(controller, what string) error {
	if !s.ctrls[controller] {
		return fmt.Errorf("%s requires the %s cgroup controller, which is not enabled for %s", what, controller, s.dir)
	}
	return nil
}

func (s *setter) write(file, value string) error {
	return common.WriteFile(s.dir, file, value)
}

// limitString formats a limit where -1 (or any negative) means "max".
func limitString(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// setPids writes pids.max: -1 and 0 mean "max" (the v1 driver's reading),
// a positive value is the limit, nil leaves it unchanged.
func (s *setter) setPids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	if err := s.need("pids", "pids limit"); err != nil {
		return err
	}
	return s.write("pids.max", common.PidsMax(*r.Pids.Limit))
}

// setMemory writes memory.max (limit), memory.low (reservation) and
// memory.swap.max (swap converted from v1's memory+swap).
func (s *setter) setMemory(r *specs.LinuxResources) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	limit, swap, reservation := common.Deref(mem.Limit), common.Deref(mem.Swap), common.Deref(mem.Reservation)
	if mem.Swappiness != nil {
		logrus.Warnf("cgroup v2 has no memory swappiness; ignoring swappiness %d", *mem.Swappiness)
	}
	if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
		logrus.Warn("cgroup v2 cannot disable the OOM killer; ignoring disableOOMKiller")
	}
	if common.Deref(mem.Kernel) != 0 || common.Deref(mem.KernelTCP) != 0 {
		logrus.Warn("cgroup v2 has no kernel memory limits; ignoring memory.kernel and memory.kernelTCP")
	}
	if limit == 0 && swap == 0 && reservation == 0 {
		return nil
	}
	if err := s.need("memory", "memory settings"); err != nil {
		return err
	}
	effLimit := limit
	if effLimit == 0 && swap > 0 {
		// Update with only swap: convert against the current limit.
		cur, err := common.ReadUint(s.dir, "memory.max")
		if err != nil {
			return err
		}
		if cur != ^uint64(0) {
			effLimit = int64(cur)
		}
	}
	swapV2, err := ConvertMemorySwapToV2(swap, effLimit)
	if err != nil {
		return err
	}
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && limit > 0 {
		usage, err := common.ReadUint(s.dir, "memory.current")
		if err != nil {
			return err
		}
		if uint64(limit) < usage {
			return fmt.Errorf("rejecting memory limit %d: below current usage %d", limit, usage)
		}
	}
	// swap == limit (v1: memory+swap equal to memory) means no swap at all: memory.swap.max 0. Only a
	// swap of 0 (absent) leaves the setting unchanged.
	if swapV2 != 0 || swap > 0 {
		if !common.Exists(s.dir, "memory.swap.max") {
			if swapV2 > 0 {
				return fmt.Errorf("swap limit: %s has no memory.swap.max (swap accounting disabled?)", s.dir)
			}
		} else if err := s.write("memory.swap.max", limitString(swapV2)); err != nil {
			return err
		}
	}
	if limit != 0 {
		if err := s.write("memory.max", limitString(limit)); err != nil {
			return err
		}
	}
	if reservation != 0 {
		if err := s.write("memory.low", limitString(reservation)); err != nil {
			return err
		}
	}
	return nil
}

// setCPU writes cpu.weight (from shares), cpu.max (quota and period; a zero
// keeps the current half), cpu.max.burst and cpu.idle. Realtime settings do
// not exist on cgroup v2 and are an error when non-zero.
func (s *setter) setCPU(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	if common.Deref(c.RealtimeRuntime) != 0 || common.Deref(c.RealtimePeriod) != 0 {
		return errors.New("cpu realtime runtime and period are not supported on cgroup v2")
	}
	shares, quota, period := common.Deref(c.Shares), common.Deref(c.Quota), common.Deref(c.Period)
	burstSet := c.Burst != nil && (*c.Burst != 0 || common.Exists(s.dir, "cpu.max.burst"))
	idleSet := c.Idle != nil && (*c.Idle != 0 || common.Exists(s.dir, "cpu.idle"))
	if shares == 0 && quota == 0 && period == 0 && !burstSet && !idleSet {
		return nil
	}
	if err := s.need("cpu", "cpu settings"); err != nil {
		return err
	}
	if idleSet {
		if !common.Exists(s.dir, "cpu.idle") {
			return errors.New("cpu idle: this kernel has no cpu.idle")
		}
		if err := s.write("cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	if shares != 0 {
		if err := s.write("cpu.weight", strconv.FormatUint(ConvertCPUSharesToWeight(shares), 10)); err != nil {
			return err
		}
	}
	if quota != 0 || period != 0 {
		cur, err := common.ReadFile(s.dir, "cpu.max")
		if err != nil {
			return err
		}
		f := strings.Fields(cur)
		if len(f) != 2 {
			return fmt.Errorf("parse %s/cpu.max: unexpected %q", s.dir, cur)
		}
		q, p := f[0], f[1]
		if quota != 0 {
			q = limitString(quota)
		}
		if period != 0 {
			p = strconv.FormatUint(period, 10)
		}
		if err := s.write("cpu.max", q+" "+p); err != nil {
			return err
		}
	}
	if burstSet {
		if !common.Exists(s.dir, "cpu.max.burst") {
			return errors.New("cpu burst: this kernel has no cpu.max.burst")
		}
		if err := s.write("cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	return nil
}

// setCpuset writes cpuset.cpus and cpuset.mems when given.
func (s *setter) setCpuset(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil || (c.Cpus == "" && c.Mems == "") {
		return nil
	}
	if err := s.need("cpuset", "cpuset settings"); err != nil {
		return err
	}
	if c.Cpus != "" {
		if err := s.write("cpuset.cpus", c.Cpus); err != nil {
			return fmt.Errorf("invalid cpuset cpus %q: %w", c.Cpus, err)
		}
	}
	if c.Mems != "" {
		if err := s.write("cpuset.mems", c.Mems); err != nil {
			return fmt.Errorf("invalid cpuset mems %q: %w", c.Mems, err)
		}
	}
	return nil
}

// setHugetlb writes hugetlb.<size>.max, and the rsvd limit where present.
func (s *setter) setHugetlb(r *specs.LinuxResources) error {
	if len(r.HugepageLimits) == 0 {
		return nil
	}
	if err := s.need("hugetlb", "hugepage limits"); err != nil {
		return err
	}
	return common.WriteHugetlbLimits(s.dir, r.HugepageLimits, "max")
}

// setRdma writes one rdma.max line per device with the counts given.
func (s *setter) setRdma(r *specs.LinuxResources) error {
	if len(r.Rdma) == 0 {
		return nil
	}
	if err := s.need("rdma", "rdma limits"); err != nil {
		return err
	}
	return common.WriteRdmaLimits(s.dir, r.Rdma)
}

// setNetwork refuses net_cls/net_prio settings, which only cgroup v1 has.
func (s *setter) setNetwork(r *specs.LinuxResources) error {
	n := r.Network
	if n == nil || ((n.ClassID == nil || *n.ClassID == 0) && len(n.Priorities) == 0) {
		return nil
	}
	return errors.New("network classID and priorities need the cgroup v1 net_cls/net_prio controllers; cgroup v2 has none")
}

// unifiedForbidden are cgroup core files that would break the manager's
// invariants if written through linux.resources.unified.
var unifiedForbidden = map[string]bool{
	"cgroup.procs": true, "cgroup.threads": true, "cgroup.subtree_control": true,
	"cgroup.kill": true, "cgroup.freeze": true, "cgroup.type": true,
}

// ValidateUnifiedKey checks one linux.resources.unified key against the
// controllers enabled for a cgroup: it must be "<controller>.<knob>" for an
// enabled controller (or a writable cgroup.* core file), with no path
// separators.
func ValidateUnifiedKey(key string, enabled map[string]bool) error {
	if key == "" || strings.ContainsAny(key, "/\x00") || strings.HasPrefix(key, ".") {
		return fmt.Errorf("unified resource %q: invalid file name", key)
	}
	ctrl, _, ok := strings.Cut(key, ".")
	if !ok {
		return fmt.Errorf("unified resource %q: not of the form <controller>.<file>", key)
	}
	if ctrl == "cgroup" {
		if unifiedForbidden[key] {
			return fmt.Errorf("unified resource %q: managed by the runtime, cannot be set", key)
		}
		return nil
	}
	if !enabled[ctrl] {
		return fmt.Errorf("unified resource %q: controller %q is not enabled for this cgroup", key, ctrl)
	}
	return nil
}

// setUnified writes linux.resources.unified verbatim, in key order, after
// validating every key first.
func (s *setter) setUnified(r *specs.LinuxResources) error {
	if len(r.Unified) == 0 {
		return nil
	}
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		if err := ValidateUnifiedKey(k, s.ctrls); err != nil {
			return err
		}
		if !common.Exists(s.dir, k) {
			return fmt.Errorf("unified resource %q: no such file in %s", k, s.dir)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := s.write(k, r.Unified[k]); err != nil {
			return fmt.Errorf("unified resource %q: %w", k, err)
		}
	}
	return nil
}
