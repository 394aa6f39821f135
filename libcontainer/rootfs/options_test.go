package rootfs

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	o := parseOptions("tmpfs", []string{"ro", "rw", "nosuid", "noexec", "exec", "rshared", "private", "rro", "rnoatime", "tmpcopyup", "size=1m", "mode=755", "weird"})
	if o.bind || o.remount || !o.tmpcopyup {
		t.Errorf("bind %v remount %v tmpcopyup %v", o.bind, o.remount, o.tmpcopyup)
	}
	if o.msFlags != unix.MS_NOSUID {
		t.Errorf("msFlags %#x, want MS_NOSUID only (rw undoes ro, exec undoes noexec)", o.msFlags)
	}
	if want := []uintptr{unix.MS_SHARED | unix.MS_REC, unix.MS_PRIVATE}; !reflect.DeepEqual(o.propagation, want) {
		t.Errorf("propagation %v, want %v", o.propagation, want)
	}
	if want := []string{"size=1m", "mode=755", "weird"}; !reflect.DeepEqual(o.data, want) {
		t.Errorf("data %v, want %v", o.data, want)
	}
	if o.recFlags != unix.MS_RDONLY|unix.MS_NOATIME {
		t.Errorf("recFlags %#x", o.recFlags)
	}

	// A new filesystem gets every attribute decided, relatime by default.
	a := o.mountAttr()
	if a.Attr_set != unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_RELATIME {
		t.Errorf("new mount attr_set %#x", a.Attr_set)
	}
	if got := o.superblockFlags(); len(got) != 0 {
		t.Errorf("superblock flags %v", got)
	}
	r := o.recursiveAttr()
	if r.Attr_set != unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOATIME || r.Attr_clr != unix.MOUNT_ATTR__ATIME {
		t.Errorf("recursive attr %+v", r)
	}
	if parseOptions("tmpfs", nil).recursiveAttr() != nil {
		t.Error("recursive attr without recursive options")
	}
}

func TestBindAttrOnlyMentioned(t *testing.T) {
	o := parseOptions("none", []string{"rbind", "ro", "dev"})
	if !o.bind || !o.recursive {
		t.Fatalf("bind %v recursive %v", o.bind, o.recursive)
	}
	a := o.mountAttr()
	if a.Attr_set != unix.MOUNT_ATTR_RDONLY || a.Attr_clr != unix.MOUNT_ATTR_NODEV {
		t.Errorf("bind attr %+v: want only ro set and nodev cleared", a)
	}
	// strictatime wins over noatime, as in the kernel.
	a = parseOptions("bind", []string{"noatime", "strictatime"}).mountAttr()
	if a.Attr_set != unix.MOUNT_ATTR_STRICTATIME || a.Attr_clr != unix.MOUNT_ATTR__ATIME {
		t.Errorf("atime attr %+v", a)
	}
	if o := parseOptions("bind", nil); !o.bind || o.recursive {
		t.Errorf("type bind: bind %v recursive %v", o.bind, o.recursive)
	}
}

func TestSuperblockFlags(t *testing.T) {
	got := parseOptions("tmpfs", []string{"ro", "sync", "dirsync", "lazytime", "mand"}).superblockFlags()
	if want := []string{"ro", "sync", "dirsync", "lazytime"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestExpandParams(t *testing.T) {
	long := strings.Repeat("a", 200)
	got, err := expandParams("overlay", []string{"lowerdir=/" + long + ":/b\\:c:/" + long, "upperdir=/u"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"lowerdir+=/" + long, "lowerdir+=/b:c", "lowerdir+=/" + long, "upperdir=/u"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := expandParams("tmpfs", []string{"x=" + long + long}); err == nil {
		t.Error("long value accepted for tmpfs")
	}
	if got, _ := expandParams("overlay", []string{"lowerdir=/a:/b"}); !reflect.DeepEqual(got, []string{"lowerdir=/a:/b"}) {
		t.Errorf("short lowerdir changed: %v", got)
	}
}

func TestCheckProcDest(t *testing.T) {
	proc := &specs.Mount{Type: "proc"}
	tmpfs := &specs.Mount{Type: "tmpfs"}
	for _, tc := range []struct {
		rel string
		m   *specs.Mount
		ok  bool
	}{
		{"/proc", proc, true},
		{"/proc", tmpfs, false},
		{"/proc/cpuinfo", tmpfs, true},
		{"/proc/self/attr/exec", tmpfs, false},
		{"/procfoo", tmpfs, true},
		{"/data", tmpfs, true},
		{"", tmpfs, true},
	} {
		err := checkProcDest(tc.rel, tc.m, parseOptions(tc.m.Type, nil))
		if (err == nil) != tc.ok {
			t.Errorf("%s (%s): %v", tc.rel, tc.m.Type, err)
		}
	}
}

func TestSpecDevices(t *testing.T) {
	spec := &specs.Spec{Linux: &specs.Linux{Devices: []specs.LinuxDevice{
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
		{Path: "dev/fifo", Type: "p"},
	}}}
	devs, err := specDevices(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != len(defaultDevices)+1 {
		t.Fatalf("got %d devices", len(devs))
	}
	last := devs[len(devs)-1]
	if last.path != "/dev/fifo" || last.kind != unix.S_IFIFO || !last.fromSpec {
		t.Errorf("fifo device %+v", last)
	}
	spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "q"}}
	if _, err := specDevices(spec); err == nil {
		t.Error("unknown device type accepted")
	}
}
