//go:build linux

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// Hostile bundles (design.md §3, issue 2 "Paths are hostile" and "Bad
// input"): the rootfs and config belong to an attacker. Each case must
// either fail with one clean error line, leaving nothing behind, or run with
// everything confined to the rootfs; the host must never be touched. The
// harness's leak check runs after every test.

// hoDone is printed last by every hostile container script: its presence
// tells a container that ran apart from a runtime that refused the bundle.
const hoDone = "@@hostile-done"

// hoRun runs the bundle in the foreground. When the runtime refuses it, the
// refusal must be clean (exit 1, one error line containing want, no
// container left) and hoRun returns ran=false; otherwise it returns the
// container's sections.
func hoRun(t *testing.T, h *harness, id string, b *bundle.Bundle, want string) (secs map[string]string, ran bool) {
	t.Helper()
	out, errOut, code := h.run("run", "--bundle", b.Dir, id)
	if strings.Contains(out, hoDone) {
		return smSections(out), true
	}
	t.Logf("runtime refused the bundle: %s", strings.TrimSpace(errOut))
	expectError(t, errOut, code, want)
	_, errOut, code = h.run("state", id)
	expectError(t, errOut, code, "container does not exist")
	return nil, false
}

// hoScript wraps script so that its errors go to stdout and it ends with
// hoDone.
func hoScript(id, script string) []string {
	return smScript(id, "{ "+script+"\n} 2>&1; echo "+hoDone)
}

// hoHostDir creates a host directory holding keep.txt and returns it with
// a function listing its entries, to verify it was left untouched.
func hoHostDir(t *testing.T) (string, func() []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hostdir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("host-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	list := func() []string {
		var names []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && p != dir {
				names = append(names, strings.TrimPrefix(p, dir))
			}
			return nil
		})
		sort.Strings(names)
		return names
	}
	return dir, list
}

// hoExpectUntouched checks the host directory still holds only keep.txt
// with its content.
func hoExpectUntouched(t *testing.T, dir string, list func() []string) {
	t.Helper()
	if got := list(); len(got) != 1 || got[0] != "/keep.txt" {
		t.Errorf("host directory %s changed: %q, want only /keep.txt", dir, got)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "keep.txt")); err != nil || string(data) != "host-file\n" {
		t.Errorf("host file changed: %q, %v", data, err)
	}
}

// TestHostileMountDestEscape: mount destinations that try to leave the
// rootfs, through an absolute symlink, a relative ../ symlink, ".." in the
// destination itself and a symlinked file destination, are confined to the
// rootfs (or refused); the host directory stays untouched.
func TestHostileMountDestEscape(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, rootfs, hostdir string) (dest string, bind bool)
		// inside is where the mount must appear in the container.
		inside func(hostdir string) string
		// mustRun: the symlink's target exists inside the rootfs, so the
		// mount must be confined there (as runc does), not refused.
		mustRun bool
	}{
		{
			// Dangling inside the rootfs: runc creates the target inside
			// the root; refusing cleanly is acceptable too.
			name: "absolute-symlink-dangling",
			setup: func(t *testing.T, rootfs, hostdir string) (string, bool) {
				hoSymlink(t, hostdir, filepath.Join(rootfs, "evil"))
				return "/evil/x", false
			},
			inside: func(hostdir string) string { return hostdir + "/x" },
		},
		{
			name: "absolute-symlink",
			setup: func(t *testing.T, rootfs, hostdir string) (string, bool) {
				if err := os.MkdirAll(filepath.Join(rootfs, hostdir), 0o755); err != nil {
					t.Fatal(err)
				}
				hoSymlink(t, hostdir, filepath.Join(rootfs, "evil"))
				return "/evil/x", false
			},
			inside:  func(hostdir string) string { return hostdir + "/x" },
			mustRun: true,
		},
		{
			name: "relative-dotdot-symlink",
			setup: func(t *testing.T, rootfs, hostdir string) (string, bool) {
				hoSymlink(t, strings.Repeat("../", 20), filepath.Join(rootfs, "up"))
				return "/up" + hostdir + "/y", false
			},
			inside: func(hostdir string) string { return hostdir + "/y" },
		},
		{
			name: "dotdot-in-destination",
			setup: func(t *testing.T, rootfs, hostdir string) (string, bool) {
				return "/" + strings.Repeat("../", 20) + hostdir + "/z", false
			},
			inside: func(hostdir string) string { return hostdir + "/z" },
		},
		{
			name: "symlinked-file-destination",
			setup: func(t *testing.T, rootfs, hostdir string) (string, bool) {
				hoSymlink(t, hostdir+"/keep.txt", filepath.Join(rootfs, "etc/evil-file"))
				return "/etc/evil-file", true
			},
			inside: func(hostdir string) string { return hostdir + "/keep.txt" },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			hostdir, list := hoHostDir(t)
			id := h.newID()
			b := h.newBundle(id, nil)
			dest, bind := c.setup(t, b.Rootfs, hostdir)
			m := specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}}
			if bind {
				src := filepath.Join(t.TempDir(), "bind-src")
				if err := os.WriteFile(src, []byte("bind-src\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				m = specs.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"bind"}}
			}
			inside := c.inside(hostdir)
			b.Update(t, func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, m)
				s.Process.Args = hoScript(id, "cat /proc/self/mountinfo")
			})
			secs, ran := hoRun(t, h, id, b, "to "+filepath.Clean(dest))
			hoExpectUntouched(t, hostdir, list)
			if !ran {
				if c.mustRun {
					t.Error("a symlinked destination whose target exists inside the rootfs was refused; it must be confined there")
				}
				return
			}
			ms := smParseMountinfo(secs[""])
			got := smMountAt(t, ms, inside)
			if want := map[bool]string{false: "tmpfs", true: "ext4"}[bind]; got.fstype != want {
				t.Errorf("mount at %s inside is %s, want %s", inside, got.fstype, want)
			}
			if _, err := os.Lstat(filepath.Join(b.Rootfs, inside)); err != nil {
				t.Errorf("the confined mount point %s is not inside the rootfs: %v", inside, err)
			}
		})
	}
}

func hoSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestHostileProcSysSymlink: /proc or /sys replaced by a symlink in the
// rootfs (CVE-2019-16884, CVE-2019-19921 class) makes create fail with an
// error naming the symlink, leaving nothing behind.
func TestHostileProcSysSymlink(t *testing.T) {
	for _, dir := range []string{"proc", "sys"} {
		for _, target := range []string{"/tmp", "../tmp"} {
			t.Run(dir+"->"+strings.ReplaceAll(target, "/", "_"), func(t *testing.T) {
				h := newHarness(t)
				id := h.newID()
				b := h.newBundle(id, []string{"true", id})
				if err := os.Remove(filepath.Join(b.Rootfs, dir)); err != nil {
					t.Fatal(err)
				}
				hoSymlink(t, target, filepath.Join(b.Rootfs, dir))
				_, errOut, code := h.run("create", "--bundle", b.Dir, id)
				expectError(t, errOut, code, "symlink")
				_, errOut, code = h.run("state", id)
				expectError(t, errOut, code, "container does not exist")
			})
		}
	}
}

// hoMarker creates a marker file directly in the host's /tmp, the way
// CVE-2024-21626 exploits read host files through a leaked descriptor, and
// returns its name and content.
func hoMarker(t *testing.T) (name, content string) {
	t.Helper()
	f, err := os.CreateTemp("/tmp", "husk-it-marker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	content = "host-secret-" + randHex(8)
	if _, err := f.WriteString(content + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Base(f.Name()), content
}

// hoEscapeScript tries to read the host marker relative to the working
// directory, as a process whose cwd is a leaked host directory would.
func hoEscapeScript(marker string) string {
	return fmt.Sprintf("pwd; cat %stmp/%s; ls ../../../../", strings.Repeat("../", 30), marker)
}

// TestHostileCwdLeakedFd: process.cwd pointing at /proc/self/fd/N (a
// descriptor the runtime might leak into init, CVE-2024-21626) must make
// create fail, or leave the process unable to reach the host's files.
func TestHostileCwdLeakedFd(t *testing.T) {
	marker, secret := hoMarker(t)
	cwds := []string{"/proc/self/cwd", "/proc/1/cwd", "/proc/self/root/../../.."}
	// Which descriptor numbers init holds depends on the environment (what
	// the Go runtime opened, how many fds the caller passed), so cover a
	// generous range rather than the numbers seen on one machine.
	for fd := 3; fd <= 20; fd++ {
		cwds = append(cwds, fmt.Sprintf("/proc/self/fd/%d", fd))
	}
	for _, cwd := range cwds {
		t.Run(strings.ReplaceAll(strings.TrimPrefix(cwd, "/"), "/", "_"), func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			b := h.newBundle(id, hoScript(id, hoEscapeScript(marker)), bundle.WithSpec(func(s *specs.Spec) {
				s.Process.Cwd = cwd
			}))
			secs, ran := hoRun(t, h, id, b, "cwd")
			if !ran {
				return
			}
			all := strings.Join(hoValues(secs), "")
			if strings.Contains(all, secret) {
				t.Errorf("cwd %s: the container read the host's /tmp/%s:\n%s", cwd, marker, all)
			}
		})
	}
}

// TestHostileExecCwdLeakedFd: the same trick through `exec --cwd`.
func TestHostileExecCwdLeakedFd(t *testing.T) {
	marker, secret := hoMarker(t)
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	t.Cleanup(func() { h.run("delete", "--force", id) })
	h.start(id)
	// Control: exec --cwd works at all, so the refusals below mean something.
	if out := h.mustRun("exec", "--cwd", "/etc", id, "pwd"); strings.TrimSpace(out) != "/etc" {
		t.Fatalf("exec --cwd /etc: pwd printed %q", out)
	}
	for fd := 3; fd <= 20; fd++ {
		cwd := fmt.Sprintf("/proc/self/fd/%d", fd)
		out, errOut, code := h.run("exec", "--cwd", cwd, id, "sh", "-c", hoEscapeScript(marker)+" 2>&1")
		if strings.Contains(out, secret) || strings.Contains(errOut, secret) {
			t.Errorf("exec --cwd %s read the host's /tmp/%s (exit %d):\n%s", cwd, marker, code, out)
		}
	}
	h.mustRun("delete", "--force", id)
}

func hoValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestHostileBindSourceSymlink: a bind source that is a host symlink is
// resolved on the host (the config is trusted for sources) and works, for a
// directory and for a file.
func TestHostileBindSourceSymlink(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "f.txt"), []byte("through-link\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hoSymlink(t, real, filepath.Join(dir, "dirlink"))
	hoSymlink(t, filepath.Join(real, "f.txt"), filepath.Join(dir, "filelink"))
	id := h.newID()
	script := "cat /mnt/d/f.txt; cat /etc/linked.txt; stat -c %F /mnt/d /etc/linked.txt"
	b := h.newBundle(id, hoScript(id, script), smAddMounts(
		specs.Mount{Destination: "/mnt/d", Type: "bind", Source: filepath.Join(dir, "dirlink"), Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/etc/linked.txt", Type: "bind", Source: filepath.Join(dir, "filelink"), Options: []string{"bind", "ro"}},
	))
	secs, ran := hoRun(t, h, id, b, "")
	if !ran {
		t.Fatal("a bind source that is a symlink was refused; it must be followed on the host")
	}
	want := "through-link\nthrough-link\ndirectory\nregular file\n"
	if secs[""] != want {
		t.Errorf("container saw %q, want %q", secs[""], want)
	}
}

// TestHostileProcSubpathDest: mounting over /proc subpaths (/proc/self/...,
// /proc/1/..., /proc/sys) with something that is not procfs is refused:
// it could hide LSM or sysctl writes from the runtime.
func TestHostileProcSubpathDest(t *testing.T) {
	dests := []string{"/proc/self/attr", "/proc/self/attr/exec", "/proc/1/attr/current", "/proc/sys/kernel", "/proc"}
	for _, dest := range dests {
		t.Run(strings.ReplaceAll(strings.TrimPrefix(dest, "/"), "/", "_"), func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			src := filepath.Join(t.TempDir(), "fake")
			if err := os.WriteFile(src, []byte("fake\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			m := specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs"}
			if strings.Count(dest, "/") > 2 && !strings.HasPrefix(dest, "/proc/sys") {
				m = specs.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"bind"}}
			}
			b := h.newBundle(id, []string{"true", id}, smAddMounts(m))
			_, errOut, code := h.run("create", "--bundle", b.Dir, id)
			expectError(t, errOut, code, "/proc")
			_, errOut, code = h.run("state", id)
			expectError(t, errOut, code, "container does not exist")
		})
	}
}

// TestHostileRootfsSymlink: a rootfs that is a symlink to a directory, as
// root.path relative and absolute, works and is the directory's content.
func TestHostileRootfsSymlink(t *testing.T) {
	for _, absolute := range []bool{false, true} {
		t.Run(map[bool]string{false: "relative", true: "absolute"}[absolute], func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			b := h.newBundle(id, hoScript(id, "cat /etc/marker"))
			real := filepath.Join(b.Dir, "realroot")
			if err := os.Rename(b.Rootfs, real); err != nil {
				t.Fatal(err)
			}
			hoSymlink(t, "realroot", b.Rootfs)
			marker := "real-root-" + randHex(4)
			if err := os.WriteFile(filepath.Join(real, "etc/marker"), []byte(marker+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if absolute {
				b.Update(t, func(s *specs.Spec) { s.Root.Path = b.Rootfs })
			}
			secs, ran := hoRun(t, h, id, b, "")
			if !ran {
				t.Fatal("a rootfs that is a symlink to a directory was refused")
			}
			if got := strings.TrimSpace(secs[""]); got != marker {
				t.Errorf("container saw %q, want %q", got, marker)
			}
		})
	}
}

// TestHostileLongPaths: absurdly long paths in the config (a component
// longer than NAME_MAX, a destination longer than PATH_MAX, a root.path
// longer than PATH_MAX) are refused cleanly or handled; nothing leaks.
func TestHostileLongPaths(t *testing.T) {
	cases := []struct {
		name string
		fn   func(s *specs.Spec)
	}{
		{"long-component", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/" + strings.Repeat("c", 300), Type: "tmpfs", Source: "tmpfs"})
		}},
		{"long-destination", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: strings.Repeat("/dddddddd", 600), Type: "tmpfs", Source: "tmpfs"})
		}},
		{"long-root-path", func(s *specs.Spec) {
			s.Root.Path = strings.Repeat("r/", 3000) + "rootfs"
		}},
		{"long-cwd", func(s *specs.Spec) {
			s.Process.Cwd = strings.Repeat("/w", 3000)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			b := h.newBundle(id, hoScript(id, "true"), bundle.WithSpec(c.fn))
			if _, ran := hoRun(t, h, id, b, "file name too long"); ran {
				t.Logf("%s: accepted", c.name)
			}
		})
	}
}

// TestHostilePasswdFifo: a container whose /etc/passwd is a FIFO (or any non-regular file) does not
// hang run or exec while husk looks up HOME: HOME falls back to "/".
func TestHostilePasswdFifo(t *testing.T) {
	h := newHarness(t)
	noHome := bundle.WithSpec(func(s *specs.Spec) {
		var env []string
		for _, kv := range s.Process.Env {
			if !strings.HasPrefix(kv, "HOME=") {
				env = append(env, kv)
			}
		}
		s.Process.Env = env
	})
	fifoPasswd := func(b *bundle.Bundle) {
		passwd := filepath.Join(b.Rootfs, "etc", "passwd")
		os.Remove(passwd)
		if err := os.MkdirAll(filepath.Dir(passwd), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(passwd, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", `echo "home=$HOME"`, id}, noHome)
	fifoPasswd(b)
	if out := h.mustRun("run", "--bundle", b.Dir, id); out != "home=/\n" {
		t.Errorf("run: %q, want home=/", out)
	}
	id = h.newID()
	b = h.newBundle(id, sleeper(id), noHome)
	fifoPasswd(b)
	h.create(id, b)
	t.Cleanup(func() { h.run("delete", "--force", id) })
	h.start(id)
	if out := h.mustRun("exec", id, "sh", "-c", `echo "home=$HOME"`); out != "home=/\n" {
		t.Errorf("exec: %q, want home=/", out)
	}
}
