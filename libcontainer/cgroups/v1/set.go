package v1

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrUnifiedOnV1 is returned by Set when linux.resources.unified is used:
// those keys name cgroup v2 files.
var ErrUnifiedOnV1 = errors.New("unified resources require cgroup v2")

// Set applies r to the container's cgroups. A nil section, a nil pointer and
// (for the fields clients send as zeros on update) a zero value all leave the
// current setting unchanged, so the same call serves create and update. A
// field for a controller the host lacks is an error only when it asks for
// something. Set must follow Apply: it writes into existing directories.
func (m *Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if len(r.Unified) > 0 {
		return ErrUnifiedOnV1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	steps := []func(*specs.LinuxResources) error{
		m.setDevices,
		m.setMemory,
		m.setCPU,
		m.setCpuset,
		m.setPids,
		m.setBlkio,
		m.setHugetlb,
		m.setNetwork,
		m.setRdma,
	}
	for _, step := range steps {
		if err := step(r); err != nil {
			return err
		}
	}
	return nil
}

// need returns the container's directory for controller key, or an error
// naming the setting that required it.
func (m *Manager) need(key, what string) (string, error) {
	if d, ok := m.paths[key]; ok {
		return d, nil
	}
	return "", fmt.Errorf("%s requires the %s cgroup controller, which is not available", what, key)
}

// needFile is need plus a check that the controller offers file.
func (m *Manager) needFile(key, file, what string) (string, error) {
	d, err := m.need(key, what)
	if err != nil {
		return "", err
	}
	if !common.Exists(d, file) {
		return "", fmt.Errorf("%s: this kernel has no %s", what, file)
	}
	return d, nil
}

// setPids writes pids.max: -1 and 0 mean "max" (runc's reading of the
// field), a positive value is the limit, nil leaves it unchanged.
func (m *Manager) setPids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	d, err := m.need("pids", "pids limit")
	if err != nil {
		return err
	}
	v := "max"
	if l := *r.Pids.Limit; l > 0 {
		v = strconv.FormatInt(l, 10)
	}
	return common.WriteFile(d, "pids.max", v)
}

// setHugetlb writes hugetlb.<size>.limit_in_bytes for every listed page
// size, and the matching rsvd limit where the kernel has one.
func (m *Manager) setHugetlb(r *specs.LinuxResources) error {
	if len(r.HugepageLimits) == 0 {
		return nil
	}
	d, err := m.need("hugetlb", "hugepage limits")
	if err != nil {
		return err
	}
	for _, h := range r.HugepageLimits {
		if h.Pagesize == "" || strings.ContainsAny(h.Pagesize, "/.") {
			return fmt.Errorf("invalid hugepage size %q", h.Pagesize)
		}
		file := "hugetlb." + h.Pagesize + ".limit_in_bytes"
		if !common.Exists(d, file) {
			return fmt.Errorf("hugepage size %s is not supported (no %s)", h.Pagesize, file)
		}
		v := strconv.FormatUint(h.Limit, 10)
		if err := common.WriteFile(d, file, v); err != nil {
			return err
		}
		rsvd := "hugetlb." + h.Pagesize + ".rsvd.limit_in_bytes"
		if common.Exists(d, rsvd) {
			if err := common.WriteFile(d, rsvd, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// setNetwork writes net_cls.classid and net_prio.ifpriomap.
func (m *Manager) setNetwork(r *specs.LinuxResources) error {
	if r.Network == nil {
		return nil
	}
	if id := r.Network.ClassID; id != nil && *id != 0 {
		d, err := m.need("net_cls", "network classID")
		if err != nil {
			return err
		}
		if err := common.WriteFile(d, "net_cls.classid", strconv.FormatUint(uint64(*id), 10)); err != nil {
			return err
		}
	}
	if len(r.Network.Priorities) == 0 {
		return nil
	}
	d, err := m.need("net_prio", "network priorities")
	if err != nil {
		return err
	}
	for _, p := range r.Network.Priorities {
		if p.Name == "" || strings.ContainsAny(p.Name, " \n") {
			return fmt.Errorf("invalid network interface name %q", p.Name)
		}
		if err := common.WriteFile(d, "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
			return err
		}
	}
	return nil
}

// setRdma writes one rdma.max line per device with the counts given; an
// absent count is left unchanged.
func (m *Manager) setRdma(r *specs.LinuxResources) error {
	if len(r.Rdma) == 0 {
		return nil
	}
	d, err := m.need("rdma", "rdma limits")
	if err != nil {
		return err
	}
	devs := make([]string, 0, len(r.Rdma))
	for dev := range r.Rdma {
		devs = append(devs, dev)
	}
	sort.Strings(devs)
	for _, dev := range devs {
		if dev == "" || strings.ContainsAny(dev, " \n") {
			return fmt.Errorf("invalid rdma device name %q", dev)
		}
		l := r.Rdma[dev]
		line := dev
		if l.HcaHandles != nil {
			line += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			line += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		if line == dev {
			continue
		}
		if err := common.WriteFile(d, "rdma.max", line); err != nil {
			return err
		}
	}
	return nil
}
