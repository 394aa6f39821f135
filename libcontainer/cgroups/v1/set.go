package v1

import (
	"errors"
	"fmt"
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
	return common.WriteFile(d, "pids.max", common.PidsMax(*r.Pids.Limit))
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
	return common.WriteHugetlbLimits(d, r.HugepageLimits, "limit_in_bytes")
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
	return common.WriteRdmaLimits(d, r.Rdma)
}
