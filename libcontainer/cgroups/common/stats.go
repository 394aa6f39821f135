package common

// Freezer states as reported by Manager.FreezerState. They match runc's
// strings so that state and list output stays the same.
const (
	// Undefined means the container has no freezer (controller missing).
	Undefined = ""
	// Frozen means the container's cgroup was asked to freeze.
	Frozen = "FROZEN"
	// Thawed means the container's processes may run.
	Thawed = "THAWED"
)

// Stats is one snapshot of a container's cgroup counters. Sections whose
// controller is missing stay zero.
type Stats struct {
	CPU     CPUStats                `json:"cpu"`
	Memory  MemoryStats             `json:"memory"`
	Pids    PidsStats               `json:"pids"`
	BlkIO   BlkIOStats              `json:"blkio"`
	Hugetlb map[string]HugetlbStats `json:"hugetlb,omitempty"`
}

// CPUStats are the cpuacct and cpu (CFS throttling) counters.
type CPUStats struct {
	// UsageTotal is the total CPU time consumed, in nanoseconds.
	UsageTotal uint64 `json:"usage_total"`
	// UsagePerCPU is the CPU time consumed per CPU, in nanoseconds.
	UsagePerCPU []uint64 `json:"usage_percpu,omitempty"`
	// UsageUser is the time spent in user mode, in nanoseconds.
	UsageUser uint64 `json:"usage_user"`
	// UsageKernel is the time spent in kernel mode, in nanoseconds.
	UsageKernel uint64 `json:"usage_kernel"`
	// ThrottlingPeriods is the number of CFS periods with a quota active.
	ThrottlingPeriods uint64 `json:"throttling_periods"`
	// ThrottledPeriods is the number of periods the cgroup was throttled.
	ThrottledPeriods uint64 `json:"throttled_periods"`
	// ThrottledTime is the total time spent throttled, in nanoseconds.
	ThrottledTime uint64 `json:"throttled_time"`
}

// MemoryData is one memory counter family (usage, peak, limit, failures).
type MemoryData struct {
	Usage    uint64 `json:"usage"`
	MaxUsage uint64 `json:"max_usage"`
	Failcnt  uint64 `json:"failcnt"`
	Limit    uint64 `json:"limit"`
}

// MemoryStats are the memory controller's counters.
type MemoryStats struct {
	// Usage is memory alone.
	Usage MemoryData `json:"usage"`
	// SwapUsage is memory plus swap (v1 memsw); zero without swap accounting.
	SwapUsage MemoryData `json:"swap_usage"`
	// KernelUsage is kernel memory (v1 kmem).
	KernelUsage MemoryData `json:"kernel_usage"`
	// KernelTCPUsage is TCP buffer memory (v1 kmem.tcp).
	KernelTCPUsage MemoryData `json:"kernel_tcp_usage"`
	// Cache is the page cache charged to the cgroup.
	Cache uint64 `json:"cache"`
	// UseHierarchy tells whether usage includes sub-cgroups.
	UseHierarchy bool `json:"use_hierarchy"`
	// OOMKillDisable tells whether the OOM killer is disabled.
	OOMKillDisable bool `json:"oom_kill_disable"`
	// UnderOOM tells whether the cgroup is currently out of memory.
	UnderOOM bool `json:"under_oom"`
	// OOMKills counts processes killed by the OOM killer.
	OOMKills uint64 `json:"oom_kill"`
	// Stats is the raw memory.stat content.
	Stats map[string]uint64 `json:"stats,omitempty"`
}

// PidsStats are the pids controller's counters.
type PidsStats struct {
	// Current is the number of tasks in the cgroup.
	Current uint64 `json:"current"`
	// Limit is the task limit; 0 means no limit.
	Limit uint64 `json:"limit"`
}

// BlkIOEntry is one per-device, per-operation counter.
type BlkIOEntry struct {
	Major uint64 `json:"major"`
	Minor uint64 `json:"minor"`
	Op    string `json:"op"`
	Value uint64 `json:"value"`
}

// BlkIOStats are the blkio controller's recursive counters.
type BlkIOStats struct {
	// IOServiceBytesRecursive is bytes transferred per device and operation.
	IOServiceBytesRecursive []BlkIOEntry `json:"io_service_bytes_recursive,omitempty"`
	// IOServicedRecursive is the number of I/Os per device and operation.
	IOServicedRecursive []BlkIOEntry `json:"io_serviced_recursive,omitempty"`
}

// HugetlbStats are the counters for one huge page size.
type HugetlbStats struct {
	Usage    uint64 `json:"usage"`
	MaxUsage uint64 `json:"max_usage"`
	Failcnt  uint64 `json:"failcnt"`
}
