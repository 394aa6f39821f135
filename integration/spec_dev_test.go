//go:build linux

package integration

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// /dev as the container sees it (runtime-spec config-linux.md "Devices" and
// "Default Devices", "Default Filesystems" for /dev/pts and /dev/shm).

// devStatFormat is the stat format the dev tests print: name, type, hex
// major:minor, permissions, owner.
const devStatFormat = `stat -c '%n|%F|%t:%T|%a|%u|%g'`

// devStats parses devStatFormat lines into name -> "type|maj:min|perm|uid|gid".
func devStats(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), "|")
		if ok {
			out[name] = rest
		}
	}
	return out
}

// TestSpecDevDefaults: the default devices exist as the right character
// devices with mode 0666, and work.
func TestSpecDevDefaults(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := devStatFormat + ` /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
echo @@io; echo discarded > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; head -c 8 /dev/urandom | wc -c
{ echo x > /dev/full; } 2>&1; true`
	b := h.newBundle(id, smScript(id, script))
	secs := smRun(t, h, id, b)
	st := devStats(secs[""])
	want := map[string]string{
		"/dev/null":    "character special file|1:3|666|0|0",
		"/dev/zero":    "character special file|1:5|666|0|0",
		"/dev/full":    "character special file|1:7|666|0|0",
		"/dev/random":  "character special file|1:8|666|0|0",
		"/dev/urandom": "character special file|1:9|666|0|0",
		"/dev/tty":     "character special file|5:0|666|0|0",
	}
	for name, w := range want {
		if st[name] != w {
			t.Errorf("%s inside: %q, want %q", name, st[name], w)
		}
	}
	io := strings.Fields(secs["io"])
	if len(io) < 3 || io[0] != "null-ok" || io[1] != "4" || io[2] != "8" {
		t.Errorf("device I/O: %q, want null-ok, 4 bytes of zero, 8 of urandom", secs["io"])
	}
	if !strings.Contains(secs["io"], "No space left on device") {
		t.Errorf("write to /dev/full: %q, want No space left on device", secs["io"])
	}
}

// TestSpecDevLinuxDevices: linux.devices entries appear with their type,
// major:minor, fileMode, uid and gid, and a char device is usable.
func TestSpecDevLinuxDevices(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := devStatFormat + ` /dev/mynull /dev/sub/myzero /dev/myfifo
echo @@io; echo data > /dev/sub/myzero && echo write-ok; head -c 3 /dev/sub/myzero | wc -c
echo @@denied; { echo data > /dev/mynull; } 2>&1; true`
	mode := func(m os.FileMode) *os.FileMode { return &m }
	id32 := func(v uint32) *uint32 { return &v }
	b := h.newBundle(id, smScript(id, script), bundle.WithSpec(func(s *specs.Spec) {
		s.Linux.Devices = []specs.LinuxDevice{
			{Path: "/dev/mynull", Type: "c", Major: 1, Minor: 3, FileMode: mode(0o620), UID: id32(1000), GID: id32(5)},
			{Path: "/dev/sub/myzero", Type: "c", Major: 1, Minor: 5, FileMode: mode(0o644)},
			{Path: "/dev/myfifo", Type: "p", FileMode: mode(0o600), UID: id32(65534), GID: id32(65534)},
		}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: devInt64(1), Minor: devInt64(3), Access: "rwm"},
			specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: devInt64(1), Minor: devInt64(5), Access: "rwm"},
		)
	}))
	secs := smRun(t, h, id, b)
	st := devStats(secs[""])
	want := map[string]string{
		"/dev/mynull":     "character special file|1:3|620|1000|5",
		"/dev/sub/myzero": "character special file|1:5|644|0|0",
		"/dev/myfifo":     "fifo|0:0|600|65534|65534",
	}
	for name, w := range want {
		if st[name] != w {
			t.Errorf("%s inside: %q, want %q", name, st[name], w)
		}
	}
	if got := strings.Fields(secs["io"]); len(got) != 2 || got[0] != "write-ok" || got[1] != "3" {
		t.Errorf("device I/O: %q, want write-ok and 3", secs["io"])
	}
	// The process has no CAP_DAC_OVERRIDE, so mode 0620 owned by 1000:5
	// must keep root out: the node's mode and owner are really applied.
	if !strings.Contains(secs["denied"], "Permission denied") {
		t.Errorf("write to /dev/mynull (0620, 1000:5) as root without CAP_DAC_OVERRIDE: %q, want Permission denied", secs["denied"])
	}
}

func devInt64(v int64) *int64 { return &v }

// TestSpecDevLinks: /dev/pts is a new devpts instance, /dev/ptmx points
// into it, /dev/fd and the stdio links point into /proc/self, /dev/shm is
// a writable sticky tmpfs.
func TestSpecDevLinks(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := `for l in ptmx fd stdin stdout stderr; do echo "$l=$(readlink /dev/$l)"; done
echo @@fdlist; ls /dev/fd/
echo @@stdin; echo via-dev-stdin | cat /dev/stdin
echo @@shm; stat -c %a /dev/shm; echo shm > /dev/shm/f && cat /dev/shm/f
echo @@ptmx; stat -L -c '%t:%T' /dev/ptmx
echo @@mi; cat /proc/self/mountinfo`
	b := h.newBundle(id, smScript(id, script))
	secs := smRun(t, h, id, b)
	links := map[string]string{}
	for _, line := range strings.Split(secs[""], "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			links[k] = v
		}
	}
	want := map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd",
		"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	}
	for k, w := range want {
		if links[k] != w {
			t.Errorf("/dev/%s -> %q, want %q", k, links[k], w)
		}
	}
	if fds := strings.Fields(secs["fdlist"]); len(fds) < 3 || fds[0] != "0" || fds[1] != "1" || fds[2] != "2" {
		t.Errorf("ls /dev/fd/ = %q, want the process's own 0 1 2 ...", fds)
	}
	if strings.TrimSpace(secs["stdin"]) != "via-dev-stdin" {
		t.Errorf("read from /dev/stdin: %q", secs["stdin"])
	}
	if got := strings.Fields(secs["shm"]); len(got) != 2 || got[0] != "1777" || got[1] != "shm" {
		t.Errorf("/dev/shm: %q, want mode 1777 and writable", got)
	}
	if got := strings.TrimSpace(secs["ptmx"]); got != "5:2" {
		t.Errorf("/dev/ptmx resolves to device %q, want 5:2", got)
	}
	ms := smParseMountinfo(secs["mi"])
	pts := smExpectOpts(t, ms, "/dev/pts", "devpts")
	if !smHasOpt(pts.super, "ptmxmode=666") {
		t.Errorf("/dev/pts superblock options %q lack ptmxmode=666 (not a new instance?)", pts.super)
	}
	smExpectOpts(t, ms, "/dev/shm", "tmpfs", "nosuid", "nodev", "noexec")
	smExpectOpts(t, ms, "/dev", "tmpfs", "nosuid")
}
