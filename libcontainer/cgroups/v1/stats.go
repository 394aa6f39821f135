package v1

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
)

// userHZ is the unit of cpuacct.stat (USER_HZ is 100 on every Linux ABI).
const userHZ = 100

// Stats reads the container's counters from every controller it has. A
// controller whose directory is gone, or a counter file the kernel does not
// offer, leaves that part zero.
func (m *Manager) Stats() (*common.Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return common.CollectStats(m.path, []common.StatReader{
		{Name: "memory", Read: memoryStats},
		{Name: "cpuacct", Read: cpuacctStats},
		{Name: "cpu", Read: cpuStats},
		{Name: "pids", Read: common.ReadPidsStats},
		{Name: "blkio", Read: blkioStats},
		{Name: "hugetlb", Read: hugetlbStats},
	})
}

// optUint reads a counter, treating a missing file as zero.
func optUint(d, file string) (uint64, error) {
	v, err := common.ReadUint(d, file)
	if errors.Is(err, os.ErrNotExist) && common.Exists(d, "") {
		return 0, nil
	}
	return v, err
}

func memoryData(d, prefix string) (common.MemoryData, error) {
	var md common.MemoryData
	for _, f := range []struct {
		name string
		dst  *uint64
	}{
		{"usage_in_bytes", &md.Usage},
		{"max_usage_in_bytes", &md.MaxUsage},
		{"failcnt", &md.Failcnt},
		{"limit_in_bytes", &md.Limit},
	} {
		v, err := optUint(d, prefix+f.name)
		if err != nil {
			return md, err
		}
		*f.dst = v
	}
	return md, nil
}

func memoryStats(d string, st *common.Stats) error {
	ms := &st.Memory
	var err error
	if ms.Usage, err = memoryData(d, "memory."); err != nil {
		return err
	}
	if ms.SwapUsage, err = memoryData(d, "memory.memsw."); err != nil {
		return err
	}
	if ms.KernelUsage, err = memoryData(d, "memory.kmem."); err != nil {
		return err
	}
	if ms.KernelTCPUsage, err = memoryData(d, "memory.kmem.tcp."); err != nil {
		return err
	}
	if ms.Stats, err = common.ReadKeyValues(d, "memory.stat"); err != nil {
		return err
	}
	ms.Cache = ms.Stats["cache"]
	h, err := optUint(d, "memory.use_hierarchy")
	if err != nil {
		return err
	}
	ms.UseHierarchy = h == 1
	oom, err := common.ReadKeyValues(d, "memory.oom_control")
	if err != nil {
		return err
	}
	ms.OOMKillDisable = oom["oom_kill_disable"] == 1
	ms.UnderOOM = oom["under_oom"] == 1
	ms.OOMKills = oom["oom_kill"]
	return nil
}

func cpuacctStats(d string, st *common.Stats) error {
	c := &st.CPU
	var err error
	if c.UsageTotal, err = common.ReadUint(d, "cpuacct.usage"); err != nil {
		return err
	}
	per, err := common.ReadFile(d, "cpuacct.usage_percpu")
	if err != nil {
		return err
	}
	for _, f := range strings.Fields(per) {
		v, err := common.ParseUint(f)
		if err != nil {
			return fmt.Errorf("parse %s: %w", filepath.Join(d, "cpuacct.usage_percpu"), err)
		}
		c.UsagePerCPU = append(c.UsagePerCPU, v)
	}
	kv, err := common.ReadKeyValues(d, "cpuacct.stat")
	if err != nil {
		return err
	}
	const nsPerTick = 1_000_000_000 / userHZ
	c.UsageUser = kv["user"] * nsPerTick
	c.UsageKernel = kv["system"] * nsPerTick
	return nil
}

func cpuStats(d string, st *common.Stats) error {
	kv, err := common.ReadKeyValues(d, "cpu.stat")
	if err != nil {
		return err
	}
	st.CPU.ThrottlingPeriods = kv["nr_periods"]
	st.CPU.ThrottledPeriods = kv["nr_throttled"]
	st.CPU.ThrottledTime = kv["throttled_time"]
	return nil
}

func blkioStats(d string, st *common.Stats) error {
	var err error
	if st.BlkIO.IOServiceBytesRecursive, err = blkioEntries(d, "blkio.throttle.io_service_bytes_recursive"); err != nil {
		return err
	}
	st.BlkIO.IOServicedRecursive, err = blkioEntries(d, "blkio.throttle.io_serviced_recursive")
	return err
}

// blkioEntries parses "major:minor Op value" lines; the "Total" line without
// a device is skipped.
func blkioEntries(d, file string) ([]common.BlkIOEntry, error) {
	s, err := common.ReadFile(d, file)
	if err != nil {
		return nil, err
	}
	var out []common.BlkIOEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		maj, mnr, ok := strings.Cut(f[0], ":")
		if !ok {
			continue
		}
		e := common.BlkIOEntry{Op: f[1]}
		if e.Major, err = strconv.ParseUint(maj, 10, 64); err != nil {
			return nil, fmt.Errorf("parse %s line %q: %w", filepath.Join(d, file), line, err)
		}
		if e.Minor, err = strconv.ParseUint(mnr, 10, 64); err != nil {
			return nil, fmt.Errorf("parse %s line %q: %w", filepath.Join(d, file), line, err)
		}
		if e.Value, err = strconv.ParseUint(f[2], 10, 64); err != nil {
			return nil, fmt.Errorf("parse %s line %q: %w", filepath.Join(d, file), line, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func hugetlbStats(d string, st *common.Stats) error {
	sizes, err := common.HugetlbSizes(d, "usage_in_bytes")
	if err != nil {
		return err
	}
	for _, size := range sizes {
		var h common.HugetlbStats
		if h.Usage, err = common.ReadUint(d, "hugetlb."+size+".usage_in_bytes"); err != nil {
			return err
		}
		if h.MaxUsage, err = optUint(d, "hugetlb."+size+".max_usage_in_bytes"); err != nil {
			return err
		}
		if h.Failcnt, err = optUint(d, "hugetlb."+size+".failcnt"); err != nil {
			return err
		}
		if st.Hugetlb == nil {
			st.Hugetlb = make(map[string]common.HugetlbStats)
		}
		st.Hugetlb[size] = h
	}
	return nil
}
