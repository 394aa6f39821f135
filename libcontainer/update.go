package libcontainer

import (
	"fmt"
	"maps"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// Update changes the resources of a live (created, running or paused)
// container: r is applied with the cgroup manager's Set and then merged into
// the saved config, so later reads of state.json see the new values.
//
// In r, absent sections, nil pointers, empty strings and zero values of the
// fields docker sends as zeros (memory limit/reservation/swap/kernel/
// kernelTCP, cpu shares/quota/period/realtime, blockIO weights, pids limit,
// network classID) mean "leave unchanged". Device rules cannot be updated
// (as with runc) and are ignored with a warning. A stopped container gives
// ErrNotRunning.
func (c *Container) Update(r *specs.LinuxResources) error {
	if c.Status() == Stopped {
		return ErrNotRunning
	}
	if r != nil && len(r.Devices) > 0 {
		logrus.Warn("update: device rules cannot be changed on a live container; ignoring them")
	}
	d := UpdateDelta(r)
	if d == nil {
		return nil
	}
	if _, err := c.FullConfig(); err != nil {
		return err
	}
	if c.Config == nil {
		return fmt.Errorf("update container %s: no saved config", c.ID)
	}
	if c.Config.Linux == nil {
		c.Config.Linux = &specs.Linux{}
	}
	if c.Config.Linux.Resources == nil {
		c.Config.Linux.Resources = &specs.LinuxResources{}
	}
	saved := c.Config.Linux.Resources
	// checkBeforeUpdate given at create time protects every later update.
	if d.Memory != nil && d.Memory.CheckBeforeUpdate == nil && saved.Memory != nil {
		d.Memory.CheckBeforeUpdate = saved.Memory.CheckBeforeUpdate
	}
	cg, err := c.cgroup()
	if err != nil {
		return fmt.Errorf("update container %s: %w", c.ID, err)
	}
	// The drivers' errors name the file and value (and match runc's texts
	// for a memory limit below usage), so they are passed on as they are.
	if err := cg.Set(d); err != nil {
		return err
	}
	MergeResources(saved, d)
	return c.save()
}

// UpdateDelta returns the part of r that asks for a change, with every
// "unchanged" value (see Update) removed, or nil when nothing is left.
// Device rules are dropped. r is not modified.
func UpdateDelta(r *specs.LinuxResources) *specs.LinuxResources {
	if r == nil {
		return nil
	}
	d := &specs.LinuxResources{
		Memory:         memoryDelta(r.Memory),
		CPU:            cpuDelta(r.CPU),
		BlockIO:        blockIODelta(r.BlockIO),
		HugepageLimits: append([]specs.LinuxHugepageLimit(nil), r.HugepageLimits...),
		Network:        networkDelta(r.Network),
		Rdma:           maps.Clone(r.Rdma),
		Unified:        maps.Clone(r.Unified),
	}
	if r.Pids != nil && nonZero(r.Pids.Limit) != nil {
		d.Pids = &specs.LinuxPids{Limit: nonZero(r.Pids.Limit)}
	}
	if d.Memory == nil && d.CPU == nil && d.Pids == nil && d.BlockIO == nil && len(d.HugepageLimits) == 0 &&
		d.Network == nil && len(d.Rdma) == 0 && len(d.Unified) == 0 {
		return nil
	}
	return d
}

// nonZero returns a copy of p, or nil when p is nil or points to zero.
func nonZero[T comparable](p *T) *T {
	var zero T
	if p == nil || *p == zero {
		return nil
	}
	v := *p
	return &v
}

// clonePtr returns a copy of p (nil stays nil).
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func memoryDelta(m *specs.LinuxMemory) *specs.LinuxMemory {
	if m == nil {
		return nil
	}
	d := &specs.LinuxMemory{
		Limit:            nonZero(m.Limit),
		Reservation:      nonZero(m.Reservation),
		Swap:             nonZero(m.Swap),
		Kernel:           nonZero(m.Kernel),
		KernelTCP:        nonZero(m.KernelTCP),
		Swappiness:       clonePtr(m.Swappiness),
		DisableOOMKiller: clonePtr(m.DisableOOMKiller),
		UseHierarchy:     clonePtr(m.UseHierarchy),
	}
	if *d == (specs.LinuxMemory{}) {
		return nil
	}
	d.CheckBeforeUpdate = clonePtr(m.CheckBeforeUpdate)
	return d
}

func cpuDelta(c *specs.LinuxCPU) *specs.LinuxCPU {
	if c == nil {
		return nil
	}
	d := &specs.LinuxCPU{
		Shares:          nonZero(c.Shares),
		Quota:           nonZero(c.Quota),
		Burst:           clonePtr(c.Burst),
		Period:          nonZero(c.Period),
		RealtimeRuntime: nonZero(c.RealtimeRuntime),
		RealtimePeriod:  nonZero(c.RealtimePeriod),
		Cpus:            c.Cpus,
		Mems:            c.Mems,
		Idle:            clonePtr(c.Idle),
	}
	if *d == (specs.LinuxCPU{}) {
		return nil
	}
	return d
}

func blockIODelta(b *specs.LinuxBlockIO) *specs.LinuxBlockIO {
	if b == nil {
		return nil
	}
	d := &specs.LinuxBlockIO{
		Weight:                  nonZero(b.Weight),
		LeafWeight:              nonZero(b.LeafWeight),
		WeightDevice:            append([]specs.LinuxWeightDevice(nil), b.WeightDevice...),
		ThrottleReadBpsDevice:   append([]specs.LinuxThrottleDevice(nil), b.ThrottleReadBpsDevice...),
		ThrottleWriteBpsDevice:  append([]specs.LinuxThrottleDevice(nil), b.ThrottleWriteBpsDevice...),
		ThrottleReadIOPSDevice:  append([]specs.LinuxThrottleDevice(nil), b.ThrottleReadIOPSDevice...),
		ThrottleWriteIOPSDevice: append([]specs.LinuxThrottleDevice(nil), b.ThrottleWriteIOPSDevice...),
	}
	if d.Weight == nil && d.LeafWeight == nil && len(d.WeightDevice) == 0 && len(d.ThrottleReadBpsDevice) == 0 &&
		len(d.ThrottleWriteBpsDevice) == 0 && len(d.ThrottleReadIOPSDevice) == 0 && len(d.ThrottleWriteIOPSDevice) == 0 {
		return nil
	}
	return d
}

func networkDelta(n *specs.LinuxNetwork) *specs.LinuxNetwork {
	if n == nil {
		return nil
	}
	d := &specs.LinuxNetwork{
		ClassID:    nonZero(n.ClassID),
		Priorities: append([]specs.LinuxInterfacePriority(nil), n.Priorities...),
	}
	if d.ClassID == nil && len(d.Priorities) == 0 {
		return nil
	}
	return d
}

// MergeResources copies every value set in d (as UpdateDelta returns it)
// into dst. Per-device, per-page-size, per-interface and per-key entries
// replace the entry with the same key or are appended.
func MergeResources(dst, d *specs.LinuxResources) {
	if d == nil {
		return
	}
	if d.Memory != nil {
		if dst.Memory == nil {
			dst.Memory = &specs.LinuxMemory{}
		}
		m, s := dst.Memory, d.Memory
		setIf(&m.Limit, s.Limit)
		setIf(&m.Reservation, s.Reservation)
		setIf(&m.Swap, s.Swap)
		setIf(&m.Kernel, s.Kernel)
		setIf(&m.KernelTCP, s.KernelTCP)
		setIf(&m.Swappiness, s.Swappiness)
		setIf(&m.DisableOOMKiller, s.DisableOOMKiller)
		setIf(&m.UseHierarchy, s.UseHierarchy)
		setIf(&m.CheckBeforeUpdate, s.CheckBeforeUpdate)
	}
	if d.CPU != nil {
		if dst.CPU == nil {
			dst.CPU = &specs.LinuxCPU{}
		}
		c, s := dst.CPU, d.CPU
		setIf(&c.Shares, s.Shares)
		setIf(&c.Quota, s.Quota)
		setIf(&c.Burst, s.Burst)
		setIf(&c.Period, s.Period)
		setIf(&c.RealtimeRuntime, s.RealtimeRuntime)
		setIf(&c.RealtimePeriod, s.RealtimePeriod)
		setIf(&c.Idle, s.Idle)
		if s.Cpus != "" {
			c.Cpus = s.Cpus
		}
		if s.Mems != "" {
			c.Mems = s.Mems
		}
	}
	if d.Pids != nil && d.Pids.Limit != nil {
		dst.Pids = &specs.LinuxPids{Limit: clonePtr(d.Pids.Limit)}
	}
	if d.BlockIO != nil {
		mergeBlockIO(dst, d.BlockIO)
	}
	for _, h := range d.HugepageLimits {
		dst.HugepageLimits = upsert(dst.HugepageLimits, h, func(a, b specs.LinuxHugepageLimit) bool { return a.Pagesize == b.Pagesize })
	}
	if d.Network != nil {
		if dst.Network == nil {
			dst.Network = &specs.LinuxNetwork{}
		}
		setIf(&dst.Network.ClassID, d.Network.ClassID)
		for _, p := range d.Network.Priorities {
			dst.Network.Priorities = upsert(dst.Network.Priorities, p, func(a, b specs.LinuxInterfacePriority) bool { return a.Name == b.Name })
		}
	}
	for dev, l := range d.Rdma {
		if dst.Rdma == nil {
			dst.Rdma = make(map[string]specs.LinuxRdma)
		}
		cur := dst.Rdma[dev]
		setIf(&cur.HcaHandles, l.HcaHandles)
		setIf(&cur.HcaObjects, l.HcaObjects)
		dst.Rdma[dev] = cur
	}
	for k, v := range d.Unified {
		if dst.Unified == nil {
			dst.Unified = make(map[string]string)
		}
		dst.Unified[k] = v
	}
}

func mergeBlockIO(dst *specs.LinuxResources, s *specs.LinuxBlockIO) {
	if dst.BlockIO == nil {
		dst.BlockIO = &specs.LinuxBlockIO{}
	}
	b := dst.BlockIO
	setIf(&b.Weight, s.Weight)
	setIf(&b.LeafWeight, s.LeafWeight)
	sameWD := func(a, b specs.LinuxWeightDevice) bool { return a.Major == b.Major && a.Minor == b.Minor }
	for _, w := range s.WeightDevice {
		b.WeightDevice = upsert(b.WeightDevice, w, sameWD)
	}
	sameTD := func(a, b specs.LinuxThrottleDevice) bool { return a.Major == b.Major && a.Minor == b.Minor }
	for _, l := range []struct {
		dst *[]specs.LinuxThrottleDevice
		src []specs.LinuxThrottleDevice
	}{
		{&b.ThrottleReadBpsDevice, s.ThrottleReadBpsDevice},
		{&b.ThrottleWriteBpsDevice, s.ThrottleWriteBpsDevice},
		{&b.ThrottleReadIOPSDevice, s.ThrottleReadIOPSDevice},
		{&b.ThrottleWriteIOPSDevice, s.ThrottleWriteIOPSDevice},
	} {
		for _, t := range l.src {
			*l.dst = upsert(*l.dst, t, sameTD)
		}
	}
}

// setIf copies *src into a fresh *dst when src is set.
func setIf[T any](dst **T, src *T) {
	if src != nil {
		*dst = clonePtr(src)
	}
}

// upsert replaces the element of list that same matches with v, or appends v.
func upsert[T any](list []T, v T, same func(a, b T) bool) []T {
	for i := range list {
		if same(list[i], v) {
			list[i] = v
			return list
		}
	}
	return append(list, v)
}
