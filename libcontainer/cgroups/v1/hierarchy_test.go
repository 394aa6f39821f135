package v1

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/moby/sys/mountinfo"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
)

// discoverFrom is discover with /proc/self/cgroup's hierarchies and the mount table given.
func discoverFrom(procs []procCgroup, table io.Reader) ([]*hierarchy, error) {
	mounts, err := common.CgroupV1MountsFrom(table, func(m []*mountinfo.Info) bool { return settled(procs, m) })
	if err != nil {
		return nil, err
	}
	return matchMounts(procs, mounts), nil
}

func cgroupLine(id int, mountpoint, root, opts string) string {
	return fmt.Sprintf("%d 1 0:%d %s %s rw,nosuid - cgroup cgroup rw,%s\n", id, id, root, mountpoint, opts)
}

func TestMatchMountsStopsOnceSettled(t *testing.T) {
	procs := []procCgroup{
		{keys: []string{"cpu", "cpuacct"}, path: "/user.slice"},
		{keys: []string{"memory"}, path: "/"},
		{keys: []string{"name=systemd"}, path: "/init.scope"},
	}
	var b strings.Builder
	b.WriteString("20 1 254:0 / / rw - ext4 /dev/root rw\n")
	// A second mount of the memory hierarchy outside /sys/fs/cgroup, listed first: not preferred.
	b.WriteString(cgroupLine(21, "/mnt/memory", "/", "memory"))
	b.WriteString(cgroupLine(22, "/sys/fs/cgroup/cpu,cpuacct", "/", "cpu,cpuacct"))
	b.WriteString(cgroupLine(23, "/sys/fs/cgroup/memory", "/", "memory"))
	b.WriteString(cgroupLine(24, "/sys/fs/cgroup/systemd", "/", "xattr,name=systemd"))
	head := b.Len()
	// A container host: hundreds of mounts after the cgroup ones.
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "%d 20 0:%d / /var/lib/containers/%d/merged rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n", 100+i, 100+i, i)
	}
	// Past the cgroup mounts and a read buffer's worth, the table fails: it must not be read there.
	table := io.MultiReader(strings.NewReader(b.String()[:head+8192]), iotest.ErrReader(errors.New("read past the cgroup mounts")))
	hs, err := discoverFrom(procs, table)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range hs {
		got[strings.Join(h.keys, ",")] = h.mountpoint
	}
	want := map[string]string{
		"cpu,cpuacct":  "/sys/fs/cgroup/cpu,cpuacct",
		"memory":       "/sys/fs/cgroup/memory",
		"name=systemd": "/sys/fs/cgroup/systemd",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mounts %v, want %v", got, want)
	}
}

func TestMatchMountsReadsOnWithoutSysFsMount(t *testing.T) {
	procs := []procCgroup{{keys: []string{"pids"}, path: "/"}, {keys: []string{"blkio"}, path: "/"}}
	var b strings.Builder
	b.WriteString(cgroupLine(21, "/cgroup/pids", "/", "pids")) // not under /sys/fs/cgroup: keep looking
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "%d 20 0:%d / /srv/%d rw - tmpfs tmpfs rw\n", 100+i, 100+i, i)
	}
	b.WriteString(cgroupLine(22, "/sys/fs/cgroup/pids", "/", "pids"))
	hs, err := discoverFrom(procs, strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	// blkio is not mounted: skipped, as before; pids takes the /sys/fs/cgroup mount found last.
	if len(hs) != 1 || hs[0].mountpoint != "/sys/fs/cgroup/pids" {
		t.Fatalf("got %+v", hs)
	}
}
