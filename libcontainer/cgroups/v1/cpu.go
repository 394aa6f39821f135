package v1

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setCPU applies the cpu controller part of linux.resources.cpu. Shares,
// quota and period treat zero as unchanged (docker update sends zeros);
// burst and idle are written whenever present, as zero is a real value for
// them; realtime values are written when non-zero.
func (m *Manager) setCPU(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	shares, quota, period := common.Deref(c.Shares), common.Deref(c.Quota), common.Deref(c.Period)
	rtRuntime, rtPeriod := common.Deref(c.RealtimeRuntime), common.Deref(c.RealtimePeriod)
	burstSet := c.Burst != nil && (*c.Burst != 0 || m.hasFile("cpu", "cpu.cfs_burst_us"))
	idleSet := c.Idle != nil && (*c.Idle != 0 || m.hasFile("cpu", "cpu.idle"))
	if shares == 0 && quota == 0 && period == 0 && rtRuntime == 0 && rtPeriod == 0 && !burstSet && !idleSet {
		return nil
	}
	d, err := m.need("cpu", "cpu settings")
	if err != nil {
		return err
	}
	if shares != 0 {
		if err := writeShares(d, shares); err != nil {
			return err
		}
	}
	if err := setQuotaPeriod(d, quota, period); err != nil {
		return err
	}
	if burstSet {
		if _, err := m.needFile("cpu", "cpu.cfs_burst_us", "cpu burst"); err != nil {
			return err
		}
		if err := common.WriteFile(d, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if rtPeriod != 0 {
		if _, err := m.needFile("cpu", "cpu.rt_period_us", "cpu realtime period"); err != nil {
			return err
		}
		if err := common.WriteFile(d, "cpu.rt_period_us", strconv.FormatUint(rtPeriod, 10)); err != nil {
			return err
		}
	}
	if rtRuntime != 0 {
		if _, err := m.needFile("cpu", "cpu.rt_runtime_us", "cpu realtime runtime"); err != nil {
			return err
		}
		if err := common.WriteFile(d, "cpu.rt_runtime_us", strconv.FormatInt(rtRuntime, 10)); err != nil {
			return err
		}
	}
	if idleSet {
		if _, err := m.needFile("cpu", "cpu.idle", "cpu idle"); err != nil {
			return err
		}
		if err := common.WriteFile(d, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	return nil
}

// hasFile reports whether the container's directory for key has file.
func (m *Manager) hasFile(key, file string) bool {
	d, ok := m.paths[key]
	return ok && common.Exists(d, file)
}

// writeShares writes cpu.shares and reports the kernel's clamping (it
// silently bounds the value to 2..262144) as an error.
func writeShares(d string, shares uint64) error {
	if err := common.WriteFile(d, "cpu.shares", strconv.FormatUint(shares, 10)); err != nil {
		return err
	}
	got, err := common.ReadUint(d, "cpu.shares")
	if err != nil {
		return err
	}
	switch {
	case got < shares:
		return fmt.Errorf("cpu shares %d: the maximum allowed is %d", shares, got)
	case got > shares:
		return fmt.Errorf("cpu shares %d: the minimum allowed is %d", shares, got)
	}
	return nil
}

// setQuotaPeriod writes the CFS period then the quota. If the kernel refuses
// the new period next to the old quota (EINVAL), the quota goes first.
func setQuotaPeriod(d string, quota int64, period uint64) error {
	quotaDone := false
	if period != 0 {
		err := common.WriteFile(d, "cpu.cfs_period_us", strconv.FormatUint(period, 10))
		if err != nil {
			if !errors.Is(err, unix.EINVAL) || quota == 0 {
				return err
			}
			if err := common.WriteFile(d, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
				return err
			}
			quotaDone = true
			if err := common.WriteFile(d, "cpu.cfs_period_us", strconv.FormatUint(period, 10)); err != nil {
				return err
			}
		}
	}
	if quota != 0 && !quotaDone {
		return common.WriteFile(d, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
	}
	return nil
}

// setCpuset writes cpuset.cpus and cpuset.mems when given.
func (m *Manager) setCpuset(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil || (c.Cpus == "" && c.Mems == "") {
		return nil
	}
	d, err := m.need("cpuset", "cpuset settings")
	if err != nil {
		return err
	}
	if c.Cpus != "" {
		if err := common.WriteFile(d, "cpuset.cpus", c.Cpus); err != nil {
			return err
		}
	}
	if c.Mems != "" {
		if err := common.WriteFile(d, "cpuset.mems", c.Mems); err != nil {
			return err
		}
	}
	return nil
}
