package rootfs

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/moby/sys/mountinfo"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
)

// The container's /sys/fs/cgroup on a v1 host: each hierarchy's host mount, preferring
// /sys/fs/cgroup, and the mount table read only until every hierarchy has such a mount.
func TestV1HierarchiesFromStopsOnceSettled(t *testing.T) {
	lines := [][3]string{
		{"0", "", "/"}, // the cgroup2 entry of a hybrid host
		{"4", "memory", "/c1"},
		{"3", "cpu,cpuacct", "/c1"},
		{"1", "name=systemd", "/c1"},
	}
	var b strings.Builder
	line := func(id int, mp, opts string) {
		fmt.Fprintf(&b, "%d 1 0:%d / %s rw,nosuid - cgroup cgroup rw,%s\n", id, id, mp, opts)
	}
	b.WriteString("20 1 254:0 / / rw - ext4 /dev/root rw\n")
	line(21, "/mnt/memory", "memory") // a second mount of memory, outside /sys/fs/cgroup, listed first
	line(22, "/sys/fs/cgroup/memory", "memory")
	line(23, "/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct")
	line(24, "/sys/fs/cgroup/systemd", "xattr,name=systemd")
	head := b.Len()
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "%d 20 0:%d / /var/lib/c/%d rw - overlay overlay rw,lowerdir=/l\n", 100+i, 100+i, i)
	}
	// Past the cgroup mounts and a read buffer's worth, the table fails: it must not be read there.
	table := io.MultiReader(strings.NewReader(b.String()[:head+8192]), iotest.ErrReader(errors.New("read past the cgroup mounts")))
	mounts, err := common.CgroupV1MountsFrom(table, func(m []*mountinfo.Info) bool { return cgroupMountsSettled(lines, m, false) })
	if err != nil {
		t.Fatal(err)
	}
	hs := v1HierarchiesFrom(lines, mounts, false, map[string]string{"memory": "/sys/fs/cgroup/memory/ctr"})
	got := map[string]string{}
	for _, h := range hs {
		got[h.name] = h.source
	}
	want := map[string]string{
		"memory":      "/sys/fs/cgroup/memory/ctr", // the container's own cgroup, from paths
		"cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/c1",
		"systemd":     "/sys/fs/cgroup/systemd/c1",
	}
	if len(got) != len(want) {
		t.Fatalf("hierarchies %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: source %q, want %q", k, got[k], v)
		}
	}
}
