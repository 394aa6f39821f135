package v1

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// countingReader hands out its text in small pieces and counts what was read.
type countingReader struct {
	r    *strings.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	if len(p) > 512 {
		p = p[:512]
	}
	n, err := c.r.Read(p)
	c.read += n
	return n, err
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
	r := &countingReader{r: strings.NewReader(b.String())}
	hs, err := matchMounts(procs, r)
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
	if r.read > head+4096+512 {
		t.Fatalf("read %d of %d bytes: the mounts after the cgroup ones (from byte %d) should not be read", r.read, b.Len(), head)
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
	hs, err := matchMounts(procs, strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	// blkio is not mounted: skipped, as before; pids takes the /sys/fs/cgroup mount found last.
	if len(hs) != 1 || hs[0].mountpoint != "/sys/fs/cgroup/pids" {
		t.Fatalf("got %+v", hs)
	}
}
