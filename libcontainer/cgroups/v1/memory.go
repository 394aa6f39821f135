package v1

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	memLimit = "memory.limit_in_bytes"
	memswLim = "memory.memsw.limit_in_bytes"
)

// setMemory applies linux.resources.memory. On v1, swap is the combined
// memory+swap limit (memory.memsw.limit_in_bytes), which the kernel keeps
// at or above the memory limit, so the order of the two writes depends on
// whether the limit goes up or down.
func (m *Manager) setMemory(r *specs.LinuxResources) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	limit, swap := common.Deref(mem.Limit), common.Deref(mem.Swap)
	reservation, kernel, kernelTCP := common.Deref(mem.Reservation), common.Deref(mem.Kernel), common.Deref(mem.KernelTCP)
	oomOff := mem.DisableOOMKiller != nil && *mem.DisableOOMKiller
	if limit == 0 && swap == 0 && reservation == 0 && kernel == 0 && kernelTCP == 0 &&
		mem.Swappiness == nil && !oomOff && mem.UseHierarchy == nil {
		return nil
	}
	d, err := m.need("memory", "memory settings")
	if err != nil {
		return err
	}
	hasMemsw := common.Exists(d, memswLim)
	// Unlimited memory with swap not given means unlimited swap too.
	if limit == -1 && swap == 0 && hasMemsw {
		swap = -1
	}
	if swap != 0 && !hasMemsw {
		if swap > 0 {
			return fmt.Errorf("memory+swap limit %d: swap accounting is not enabled (no %s)", swap, memswLim)
		}
		swap = 0
	}
	if limit > 0 && swap > 0 && swap < limit {
		return fmt.Errorf("memory+swap limit %d must not be lower than the memory limit %d", swap, limit)
	}
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate {
		if err := checkUsage(d, limit, "memory.usage_in_bytes", "memory"); err != nil {
			return err
		}
		if hasMemsw {
			if err := checkUsage(d, swap, "memory.memsw.usage_in_bytes", "memory+swap"); err != nil {
				return err
			}
		}
	}
	if err := setMemoryAndSwap(d, limit, swap); err != nil {
		return err
	}
	ints := []struct {
		file string
		v    int64
	}{
		{"memory.soft_limit_in_bytes", reservation},
		{"memory.kmem.tcp.limit_in_bytes", kernelTCP},
	}
	for _, f := range ints {
		if f.v == 0 {
			continue
		}
		if err := common.WriteFile(d, f.file, strconv.FormatInt(f.v, 10)); err != nil {
			return err
		}
	}
	// Kernel memory limits are deprecated and ignored by kernels >= 5.4;
	// the knob is written only where it still exists.
	if kernel != 0 && common.Exists(d, "memory.kmem.limit_in_bytes") {
		if err := common.WriteFile(d, "memory.kmem.limit_in_bytes", strconv.FormatInt(kernel, 10)); err != nil {
			return err
		}
	}
	if mem.Swappiness != nil {
		if *mem.Swappiness > 100 {
			return fmt.Errorf("invalid memory swappiness %d: must be 0-100", *mem.Swappiness)
		}
		if err := common.WriteFile(d, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return err
		}
	}
	if oomOff {
		if err := common.WriteFile(d, "memory.oom_control", "1"); err != nil {
			return err
		}
	}
	if mem.UseHierarchy != nil {
		v := "0"
		if *mem.UseHierarchy {
			v = "1"
		}
		if err := common.WriteFile(d, "memory.use_hierarchy", v); err != nil {
			return err
		}
	}
	return nil
}

// checkUsage refuses a positive limit below the current usage in file.
func checkUsage(d string, limit int64, file, what string) error {
	if limit <= 0 {
		return nil
	}
	usage, err := common.ReadUint(d, file)
	if err != nil {
		return err
	}
	if uint64(limit) < usage {
		return fmt.Errorf("rejecting %s limit %d: below current usage %d", what, limit, usage)
	}
	return nil
}

// setMemoryAndSwap writes the memory and memory+swap limits in the order
// the kernel accepts: raising, memsw first; lowering, memory first.
func setMemoryAndSwap(d string, limit, swap int64) error {
	if limit != 0 && swap != 0 {
		cur, err := common.ReadUint(d, memLimit)
		if err != nil {
			return err
		}
		if limit == -1 || uint64(limit) > cur {
			if err := writeMemsw(d, swap); err != nil {
				return err
			}
			return writeMemLimit(d, limit)
		}
		if err := writeMemLimit(d, limit); err != nil {
			return err
		}
		return writeMemsw(d, swap)
	}
	if limit != 0 {
		if err := writeMemLimit(d, limit); err != nil {
			return err
		}
	}
	if swap != 0 {
		return writeMemsw(d, swap)
	}
	return nil
}

func writeMemLimit(d string, limit int64) error {
	err := common.WriteFile(d, memLimit, strconv.FormatInt(limit, 10))
	if err != nil && errors.Is(err, unix.EBUSY) {
		usage, _ := common.ReadUint(d, "memory.usage_in_bytes")
		peak, _ := common.ReadUint(d, "memory.max_usage_in_bytes")
		return fmt.Errorf("unable to set memory limit to %d (current usage: %d, peak usage: %d): %w", limit, usage, peak, err)
	}
	return err
}

func writeMemsw(d string, swap int64) error {
	return common.WriteFile(d, memswLim, strconv.FormatInt(swap, 10))
}
