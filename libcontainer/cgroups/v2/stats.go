package v2

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	"golang.org/x/sys/unix"
)

// Stats reads the container's counters. A controller that is not enabled,
// or a counter file the kernel does not offer, leaves that part zero.
func (m *Manager) Stats() (*common.Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dirOf := func(string) (string, bool) { return m.dir, true }
	return common.CollectStats(dirOf, []common.StatReader{
		{Name: "memory", Read: memoryStats},
		{Name: "cpu", Read: cpuStats},
		{Name: "pids", Read: common.ReadPidsStats},
		{Name: "io", Read: ioStats},
		{Name: "hugetlb", Read: hugetlbStats},
	})
}

// optUint reads a counter, treating a missing file as zero.
func optUint(d, file string) (uint64, error) {
	v, err := common.ReadUint(d, file)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	return v, err
}

func optKV(d, file string) (map[string]uint64, error) {
	kv, err := common.ReadKeyValues(d, file)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]uint64{}, nil
	}
	return kv, err
}

// memoryStats fills memory usage (memory.current, memory.peak, memory.max,
// failcnt from memory.events "max"), swap (reported as memory+swap like
// v1), memory.stat and the OOM kill counter.
func memoryStats(d string, st *common.Stats) error {
	if !common.Exists(d, "memory.current") {
		return nil
	}
	ms := &st.Memory
	ms.UseHierarchy = true
	var err error
	if ms.Usage.Usage, err = optUint(d, "memory.current"); err != nil {
		return err
	}
	if ms.Usage.MaxUsage, err = optUint(d, "memory.peak"); err != nil {
		return err
	}
	if ms.Usage.Limit, err = optUint(d, "memory.max"); err != nil {
		return err
	}
	ev, err := optKV(d, "memory.events")
	if err != nil {
		return err
	}
	ms.Usage.Failcnt = ev["max"]
	ms.OOMKills = ev["oom_kill"]
	if common.Exists(d, "memory.swap.current") {
		swap, err := optUint(d, "memory.swap.current")
		if err != nil {
			return err
		}
		swapMax, err := optUint(d, "memory.swap.max")
		if err != nil {
			return err
		}
		ms.SwapUsage.Usage = swap + ms.Usage.Usage
		ms.SwapUsage.Limit = swapMax
		if swapMax != ^uint64(0) && ms.Usage.Limit != ^uint64(0) {
			ms.SwapUsage.Limit = swapMax + ms.Usage.Limit
		} else {
			ms.SwapUsage.Limit = ^uint64(0)
		}
		swev, err := optKV(d, "memory.swap.events")
		if err != nil {
			return err
		}
		ms.SwapUsage.Failcnt = swev["max"]
	}
	if ms.Stats, err = optKV(d, "memory.stat"); err != nil {
		return err
	}
	ms.Cache = ms.Stats["file"]
	ms.KernelUsage.Usage = ms.Stats["kernel"]
	ms.KernelTCPUsage.Usage = ms.Stats["sock"]
	return nil
}

// cpuStats reads cpu.stat (present even without the cpu controller).
func cpuStats(d string, st *common.Stats) error {
	kv, err := common.ReadKeyValues(d, "cpu.stat")
	if err != nil {
		return err
	}
	c := &st.CPU
	c.UsageTotal = kv["usage_usec"] * 1000
	c.UsageUser = kv["user_usec"] * 1000
	c.UsageKernel = kv["system_usec"] * 1000
	c.ThrottlingPeriods = kv["nr_periods"]
	c.ThrottledPeriods = kv["nr_throttled"]
	c.ThrottledTime = kv["throttled_usec"] * 1000
	return nil
}

// ioStats converts io.stat ("MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...")
// to the v1-shaped recursive counters (Read, Write and Total per device).
func ioStats(d string, st *common.Stats) error {
	s, err := common.ReadFile(d, "io.stat")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		majS, minS, ok := strings.Cut(f[0], ":")
		if !ok {
			continue
		}
		maj, err1 := strconv.ParseUint(majS, 10, 64)
		mnr, err2 := strconv.ParseUint(minS, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		kv := make(map[string]uint64)
		for _, p := range f[1:] {
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				continue
			}
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				kv[k] = n
			}
		}
		add := func(dst *[]common.BlkIOEntry, r, w uint64) {
			*dst = append(*dst,
				common.BlkIOEntry{Major: maj, Minor: mnr, Op: "Read", Value: r},
				common.BlkIOEntry{Major: maj, Minor: mnr, Op: "Write", Value: w},
				common.BlkIOEntry{Major: maj, Minor: mnr, Op: "Total", Value: r + w})
		}
		add(&st.BlkIO.IOServiceBytesRecursive, kv["rbytes"], kv["wbytes"])
		add(&st.BlkIO.IOServicedRecursive, kv["rios"], kv["wios"])
	}
	return nil
}

// hugetlbStats reads hugetlb.<size>.current and the "max" event count.
func hugetlbStats(d string, st *common.Stats) error {
	sizes, err := common.HugetlbSizes(d, "current")
	if err != nil {
		return err
	}
	for _, size := range sizes {
		usage, err := optUint(d, "hugetlb."+size+".current")
		if err != nil {
			return err
		}
		ev, err := optKV(d, "hugetlb."+size+".events")
		if err != nil {
			return err
		}
		if st.Hugetlb == nil {
			st.Hugetlb = make(map[string]common.HugetlbStats)
		}
		st.Hugetlb[size] = common.HugetlbStats{Usage: usage, Failcnt: ev["max"]}
	}
	return nil
}

// OOMKillCount returns the oom_kill counter of memory.events: how many
// processes of the cgroup (and its sub-cgroups) the OOM killer killed.
func (m *Manager) OOMKillCount() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev, err := common.ReadKeyValues(m.dir, "memory.events")
	if err != nil {
		return 0, err
	}
	return ev["oom_kill"], nil
}

// NotifyOOM watches memory.events with inotify and sends on the returned
// channel each time the oom_kill counter grows (once per change, with the
// new count). The channel is closed when the cgroup is removed or stop is
// closed. It serves the events command.
func (m *Manager) NotifyOOM(stop <-chan struct{}) (<-chan uint64, error) {
	file := filepath.Join(m.dir, "memory.events")
	start, err := m.OOMKillCount()
	if err != nil {
		return nil, err
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, file, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", file, err)
	}
	f := os.NewFile(uintptr(fd), "inotify")
	ch := make(chan uint64)
	done := make(chan struct{})
	go func() {
		select {
		case <-stop:
		case <-done:
		}
		f.Close()
	}()
	go func() {
		defer close(ch)
		defer close(done)
		last := start
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if err != nil || n == 0 {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafePointer(buf[off:]))
				if ev.Mask&unix.IN_IGNORED != 0 {
					return
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
			kv, err := common.ReadKeyValues(m.dir, "memory.events")
			if err != nil {
				return
			}
			if c := kv["oom_kill"]; c > last {
				last = c
				select {
				case ch <- c:
				case <-stop:
					return
				}
			}
		}
	}()
	return ch, nil
}

// unsafePointer returns a pointer to the first byte of b, for decoding
// kernel structures read into a byte buffer.
func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
