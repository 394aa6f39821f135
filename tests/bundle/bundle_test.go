package bundle

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func readConfig(t *testing.T, dir string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("decode config.json: %v", err)
	}
	return &s
}

func TestNewLayout(t *testing.T) {
	b := New(t, Args("echo", "hi"))
	for _, p := range []string{"proc", "sys", "dev", "tmp", "etc/passwd", "etc/group", "bin/busybox"} {
		if _, err := os.Lstat(filepath.Join(b.Rootfs, p)); err != nil {
			t.Errorf("rootfs missing %s: %v", p, err)
		}
	}
	fi, err := os.Stat(filepath.Join(b.Rootfs, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("rootfs /tmp mode = %v, want 1777", fi.Mode())
	}
	target, err := os.Readlink(filepath.Join(b.Rootfs, "bin/sh"))
	if err != nil {
		t.Fatalf("bin/sh: %v", err)
	}
	if target != "/bin/busybox" {
		t.Errorf("bin/sh -> %q, want /bin/busybox", target)
	}
	passwd, err := os.ReadFile(filepath.Join(b.Rootfs, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"root:x:0:0:", "nobody:x:65534:", "user:x:1000:1000:"} {
		if !strings.Contains(string(passwd), u) {
			t.Errorf("/etc/passwd lacks %q", u)
		}
	}
	s := readConfig(t, b.Dir)
	if got := strings.Join(s.Process.Args, " "); got != "echo hi" {
		t.Errorf("args = %q, want %q", got, "echo hi")
	}
	if s.Version != OCIVersion || s.Root.Path != "rootfs" || s.Process.Terminal {
		t.Errorf("unexpected spec basics: version %q root %q terminal %v", s.Version, s.Root.Path, s.Process.Terminal)
	}
}

func TestDefaultSpecShape(t *testing.T) {
	s := DefaultSpec()
	if len(s.Process.Args) != 1 || s.Process.Args[0] != "sh" {
		t.Errorf("default args = %v, want [sh]", s.Process.Args)
	}
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	if got := strings.Join(ns, ","); got != "pid,network,ipc,uts,mount" {
		t.Errorf("namespaces = %s", got)
	}
	want := map[string]string{"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts",
		"/dev/shm": "tmpfs", "/dev/mqueue": "mqueue", "/sys": "sysfs"}
	for _, m := range s.Mounts {
		if want[m.Destination] != m.Type {
			t.Errorf("mount %s type %s unexpected", m.Destination, m.Type)
		}
		delete(want, m.Destination)
	}
	if len(want) != 0 {
		t.Errorf("missing mounts: %v", want)
	}
	// Independent copies: mutating one spec must not change the next.
	s.Linux.MaskedPaths[0] = "/changed"
	s.Process.Capabilities.Bounding[0] = "CAP_SYS_ADMIN"
	s2 := DefaultSpec()
	if s2.Linux.MaskedPaths[0] == "/changed" || s2.Process.Capabilities.Bounding[0] == "CAP_SYS_ADMIN" {
		t.Error("DefaultSpec shares slices between calls")
	}
}

func TestWithSpecAndUpdate(t *testing.T) {
	b := New(t, WithSpec(func(s *specs.Spec) { s.Hostname = "first" }),
		WithSpec(func(s *specs.Spec) { s.Hostname += "-second" }))
	if got := readConfig(t, b.Dir).Hostname; got != "first-second" {
		t.Errorf("hostname = %q, want first-second", got)
	}
	b.Update(t, func(s *specs.Spec) { s.Process.Args = []string{"true"} })
	s := readConfig(t, b.Dir)
	if s.Hostname != "first-second" || s.Process.Args[0] != "true" {
		t.Errorf("after Update: hostname %q args %v", s.Hostname, s.Process.Args)
	}
	b.WriteRaw(t, []byte("{"))
	data, err := os.ReadFile(b.ConfigPath())
	if err != nil || string(data) != "{" {
		t.Errorf("WriteRaw: %q, %v", data, err)
	}
	leftovers, err := filepath.Glob(filepath.Join(b.Dir, ".config.json-*"))
	if err != nil || len(leftovers) != 0 {
		t.Errorf("temporary config files left: %v %v", leftovers, err)
	}
}

// TestRootfsRuns runs a shell chrooted into the rootfs, which proves the
// applet symlinks resolve inside it. A chroot needs no mount namespace.
func TestRootfsRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for chroot")
	}
	b := New(t)
	cmd := exec.Command("/bin/sh", "-c", "id -un; ls /usr/bin/env >/dev/null && echo ok")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: b.Rootfs}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chrooted shell: %v: %s", err, out)
	}
	if got := string(out); got != "root\nok\n" {
		t.Errorf("output = %q, want %q", got, "root\nok\n")
	}
}
