package v2

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestConversions(t *testing.T) {
	for shares, want := range map[uint64]uint64{0: 0, 1: 1, 2: 1, 1024: 39, 262144: 10000, 500000: 10000} {
		if got := ConvertCPUSharesToWeight(shares); got != want {
			t.Errorf("ConvertCPUSharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	for w, want := range map[uint16]uint64{0: 0, 10: 1, 500: 4950, 1000: 10000} {
		if got := ConvertBlkIOWeightToIOWeight(w); got != want {
			t.Errorf("ConvertBlkIOWeightToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
	swaps := []struct {
		swap, mem, want int64
		err             bool
	}{
		{0, -1, -1, false},
		{0, 100, 0, false},
		{-1, 100, -1, false},
		{300, 100, 200, false},
		{100, 100, 0, false},
		{50, 100, 0, true},
		{300, 0, 0, true},
		{300, -1, 0, true},
	}
	for _, c := range swaps {
		got, err := ConvertMemorySwapToV2(c.swap, c.mem)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ConvertMemorySwapToV2(%d, %d) = %d, %v", c.swap, c.mem, got, err)
		}
	}
}

func dev(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: &major, Minor: &minor, Access: access}
}

func TestDevicePolicy(t *testing.T) {
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev(true, "c", 1, 3, "rwm"),
		dev(true, "c", 1, 5, "r"),
		dev(true, "c", 1, 5, "w"),
		dev(true, "c", 136, -1, "rw"),
		dev(false, "c", 1, 3, "m"),
	}
	p, err := ComputeDevicePolicy(rules)
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultAllow {
		t.Error("default should deny")
	}
	var got []string
	for _, e := range p.Exceptions {
		got = append(got, e.String())
	}
	if want := "c 1:3 rw,c 1:5 rw,c 136:* rw"; strings.Join(got, ",") != want {
		t.Errorf("exceptions = %q, want %q", strings.Join(got, ","), want)
	}
	// Punching a hole in a wildcard allow is refused.
	if _, err := ComputeDevicePolicy([]specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"}, dev(true, "c", -1, -1, "rwm"), dev(false, "c", 1, 3, "r"),
	}); err == nil {
		t.Error("hole in a wildcard rule accepted")
	}
	// Allow-all resets everything.
	p, err = ComputeDevicePolicy([]specs.LinuxDeviceCgroup{dev(true, "c", 1, 3, "r"), {Allow: true}})
	if err != nil || !p.IsAllowAll() {
		t.Errorf("allow all: %+v, %v", p, err)
	}
	// Narrow type-a rules expand to c and b.
	p, err = ComputeDevicePolicy([]specs.LinuxDeviceCgroup{{Allow: true, Type: "a", Access: "r"}})
	if err != nil || len(p.Exceptions) != 2 {
		t.Errorf("type a: %+v, %v", p, err)
	}
	for _, bad := range []specs.LinuxDeviceCgroup{
		{Type: "x"}, {Access: "rx"}, {Access: "rr"}, dev(true, "c", -5, 1, "r"),
	} {
		if _, err := ComputeDevicePolicy([]specs.LinuxDeviceCgroup{bad}); err == nil {
			t.Errorf("rule %+v accepted", bad)
		}
	}
}

// TestDeviceProgramShape checks jump targets: every conditional jump must
// land inside the program, on an instruction after itself.
func TestDeviceProgramShape(t *testing.T) {
	for _, allow := range []bool{false, true} {
		p := &DevicePolicy{DefaultAllow: allow, Exceptions: []DeviceRule{
			{'c', 1, 3, AccessRead | AccessWrite},
			{'b', Wildcard, Wildcard, accessAll},
			{'c', 136, Wildcard, AccessRead},
		}}
		prog := deviceFilterProgram(p)
		if last := prog[len(prog)-1]; last.code != opExit {
			t.Fatal("program does not end with exit")
		}
		for i, in := range prog {
			if in.code == opJneK || in.code == opJeqK {
				target := i + 1 + int(in.off)
				if in.off <= 0 || target >= len(prog) {
					t.Errorf("insn %d jumps to %d (len %d)", i, target, len(prog))
				}
			}
		}
		if len(encode(prog)) != 8*len(prog) {
			t.Error("instruction encoding is not 8 bytes each")
		}
	}
}

func TestUnifiedKeys(t *testing.T) {
	enabled := map[string]bool{"memory": true, "pids": true}
	for _, ok := range []string{"memory.high", "pids.max", "cgroup.max.depth"} {
		if err := ValidateUnifiedKey(ok, enabled); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "memory", "../memory.max", "a/b.c", "cpuset.cpus", "foo.bar", "cgroup.procs", ".x"} {
		if err := ValidateUnifiedKey(bad, enabled); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPaths(t *testing.T) {
	root := "/sys/fs/cgroup"
	m, err := newManager(root, "/a/b", "x", false)
	if err != nil || m.Path() != "/sys/fs/cgroup/a/b" {
		t.Errorf("absolute: %v, %v", m, err)
	}
	own, err := OwnCgroup()
	if err != nil {
		t.Skip("no cgroup v2 entry in /proc/self/cgroup")
	}
	m, err = newManager(root, "", "ctr", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := root + strings.TrimSuffix(parentOf(own), "/") + "/ctr"; m.Path() != want {
		t.Errorf("empty path: %s, want %s", m.Path(), want)
	}
	for _, bad := range []string{"/../x", "/", "a/../../x"} {
		if _, err := newManager(root, bad, "x", false); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
	if _, err := newManager(root, "", "a/b", false); err == nil {
		t.Error("id with a slash accepted")
	}
	for _, bad := range []map[string]string{{"": "/etc"}, {"": root}, {"memory": root + "/x"}, {}} {
		if _, err := LoadManager(bad, false); err == nil {
			t.Errorf("LoadManager(%v) accepted", bad)
		}
	}
	l, err := LoadManager(map[string]string{"": root + "/x/y"}, false)
	if err != nil || l.Paths()[""] != root+"/x/y" {
		t.Errorf("LoadManager: %v, %v", l, err)
	}
}

func parentOf(p string) string {
	i := strings.LastIndex(p, "/")
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
