package v1

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
)

// hierarchy is one mounted cgroup v1 hierarchy as the calling process sees it.
type hierarchy struct {
	// keys are the names it is known by in Paths(): its controllers
	// ("cpu", "cpuacct") or its name ("name=systemd").
	keys []string
	// mountpoint is where the hierarchy is mounted (/sys/fs/cgroup/memory).
	mountpoint string
	// mountRoot is the cgroup that mountpoint shows (mountinfo field 4).
	mountRoot string
	// own is the caller's cgroup in this hierarchy (from /proc/self/cgroup).
	own string
}

// ownDir returns the caller's own cgroup directory in this hierarchy.
func (h *hierarchy) ownDir() (string, error) {
	rel := h.own
	if h.mountRoot != "/" {
		if h.own != h.mountRoot && !strings.HasPrefix(h.own, h.mountRoot+"/") {
			return "", fmt.Errorf("own cgroup %s is not visible under %s (mounted from %s)", h.own, h.mountpoint, h.mountRoot)
		}
		rel = strings.TrimPrefix(h.own, h.mountRoot)
	}
	return filepath.Join(h.mountpoint, rel), nil
}

// discover lists the v1 hierarchies the calling process belongs to and that
// are mounted. Hierarchies missing from mountinfo are skipped: nothing can
// be done with them through cgroupfs.
func discover() ([]*hierarchy, error) {
	procs, err := readSelfCgroup()
	if err != nil {
		return nil, err
	}
	mounts, err := common.CgroupV1Mounts(func(m []*mountinfo.Info) bool { return settled(procs, m) })
	if err != nil {
		return nil, err
	}
	return matchMounts(procs, mounts), nil
}

// settled tells whether every hierarchy of procs has a mount under /sys/fs/cgroup in mounts: no
// later mount can replace it (see matchMounts).
func settled(procs []procCgroup, mounts []*mountinfo.Info) bool {
	for _, mi := range matchMountInfos(procs, mounts) {
		if mi == nil || !underSysFs(mi.Mountpoint) {
			return false
		}
	}
	return true
}

// matchMounts pairs each of procs' hierarchies with its mount, preferring one under
// /sys/fs/cgroup when a hierarchy is mounted twice; hierarchies without a mount are left out.
func matchMounts(procs []procCgroup, mounts []*mountinfo.Info) []*hierarchy {
	var out []*hierarchy
	for i, mi := range matchMountInfos(procs, mounts) {
		if mi != nil {
			p := procs[i]
			out = append(out, &hierarchy{keys: p.keys, mountpoint: mi.Mountpoint, mountRoot: mi.Root, own: p.path})
		}
	}
	return out
}

func matchMountInfos(procs []procCgroup, mounts []*mountinfo.Info) []*mountinfo.Info {
	best := make([]*mountinfo.Info, len(procs))
	for i, p := range procs {
		for _, m := range mounts {
			if !hasAllOptions(m.VFSOptions, p.keys) {
				continue
			}
			if best[i] == nil || (!underSysFs(best[i].Mountpoint) && underSysFs(m.Mountpoint)) {
				best[i] = m
			}
		}
	}
	return best
}

func underSysFs(p string) bool {
	return strings.HasPrefix(p, "/sys/fs/cgroup/")
}

type procCgroup struct {
	keys []string
	path string
}

// readSelfCgroup parses /proc/self/cgroup, skipping the cgroup2 line (id 0).
func readSelfCgroup() ([]procCgroup, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("open /proc/self/cgroup: %w", err)
	}
	defer f.Close()
	var out []procCgroup
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("parse /proc/self/cgroup line %q: want id:controllers:path", sc.Text())
		}
		if parts[0] == "0" || parts[1] == "" {
			continue
		}
		out = append(out, procCgroup{keys: strings.Split(parts[1], ","), path: parts[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	return out, nil
}

// hasAllOptions reports whether the comma-separated super options contain
// every key (controller names, or "name=X" for named hierarchies).
func hasAllOptions(opts string, keys []string) bool {
	set := make(map[string]bool)
	for _, o := range strings.Split(opts, ",") {
		set[o] = true
	}
	for _, k := range keys {
		if !set[k] {
			return false
		}
	}
	return true
}
