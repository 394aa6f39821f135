//go:build linux

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/bundle"
)

// Spec coverage for root and mounts (runtime-spec config.md "Root" and
// "Mounts", config-linux.md rootfsPropagation, maskedPaths, readonlyPaths).
// Every container prints what it sees; the test parses its stdout.

// smMount is one line of /proc/self/mountinfo as the container sees it.
type smMount struct {
	root, point, opts, optional, fstype, source, super string
}

// smParseMountinfo parses the mountinfo lines in text (other lines are
// ignored).
func smParseMountinfo(text string) []smMount {
	var out []smMount
	for _, line := range strings.Split(text, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 3 {
			continue
		}
		out = append(out, smMount{
			root:     unescapeMountinfo(f[3]),
			point:    unescapeMountinfo(f[4]),
			opts:     f[5],
			optional: strings.Join(f[6:], " "),
			fstype:   g[0],
			source:   g[1],
			super:    g[2],
		})
	}
	return out
}

// smMountAt returns the topmost mount at point.
func smMountAt(t *testing.T, ms []smMount, point string) smMount {
	t.Helper()
	var found *smMount
	for i := range ms {
		if ms[i].point == point {
			found = &ms[i]
		}
	}
	if found == nil {
		t.Fatalf("no mount at %s in the container's mountinfo", point)
	}
	return *found
}

// smHasMount reports whether anything is mounted at point.
func smHasMount(ms []smMount, point string) bool {
	for _, m := range ms {
		if m.point == point {
			return true
		}
	}
	return false
}

// smHasOpt reports whether the comma-separated list has opt.
func smHasOpt(list, opt string) bool {
	for _, o := range strings.Split(list, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// smExpectOpts checks that the mount at point has each per-mount option
// (a leading "!" means it must be absent) and returns it.
func smExpectOpts(t *testing.T, ms []smMount, point, fstype string, opts ...string) smMount {
	t.Helper()
	m := smMountAt(t, ms, point)
	if fstype != "" && m.fstype != fstype {
		t.Errorf("%s: fstype %q, want %q", point, m.fstype, fstype)
	}
	for _, o := range opts {
		if neg, ok := strings.CutPrefix(o, "!"); ok {
			if smHasOpt(m.opts, neg) {
				t.Errorf("%s: option %s present in %q", point, neg, m.opts)
			}
		} else if !smHasOpt(m.opts, o) {
			t.Errorf("%s: option %s missing from %q", point, o, m.opts)
		}
	}
	return m
}

// smSections splits output into the sections the container script starts
// with "@@name" lines.
func smSections(out string) map[string]string {
	secs := map[string]string{}
	name := ""
	for _, line := range strings.Split(out, "\n") {
		if n, ok := strings.CutPrefix(line, "@@"); ok {
			name = strings.TrimSpace(n)
			continue
		}
		secs[name] += line + "\n"
	}
	return secs
}

// smRun runs the bundle in the foreground and returns its stdout split into
// sections; the container must exit 0.
func smRun(t *testing.T, h *harness, id string, b *bundle.Bundle) map[string]string {
	t.Helper()
	out, errOut, code := h.run("run", "--bundle", b.Dir, id)
	if code != 0 {
		t.Fatalf("run %s: exit %d: %s\nstdout: %s", id, code, errOut, out)
	}
	return smSections(out)
}

// smScript is a container command running script; id is appended so the
// leak check can find the process.
func smScript(id, script string) []string {
	return []string{"sh", "-c", script, id}
}

// smHostTree creates a host directory holding top.txt and a nested tmpfs
// mount ("nested", holding inner.txt), unmounted when the test ends. With
// shared, the nested mount is made shared so that propagation is visible.
func smHostTree(t *testing.T, shared bool) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	nested := filepath.Join(src, "nested")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "top.txt"), []byte("top-content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", nested, "tmpfs", 0, "size=1m,mode=755"); err != nil {
		t.Fatalf("mount nested tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(nested, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", nested, err)
		}
	})
	if shared {
		if err := unix.Mount("", nested, "", unix.MS_SHARED, ""); err != nil {
			t.Fatalf("make %s shared: %v", nested, err)
		}
	}
	if err := os.WriteFile(filepath.Join(nested, "inner.txt"), []byte("inner-content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return src
}

// smAddMounts appends mounts to the spec.
func smAddMounts(ms ...specs.Mount) bundle.Option {
	return bundle.WithSpec(func(s *specs.Spec) { s.Mounts = append(s.Mounts, ms...) })
}

// TestSpecRootPath: root.path relative to the bundle and absolute, and
// root.readonly on and off, observed by reading a marker and writing to /.
func TestSpecRootPath(t *testing.T) {
	cases := []struct {
		name     string
		absolute bool
		readonly bool
	}{
		{"relative-ro", false, true},
		{"absolute-ro", true, true},
		{"relative-rw", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			script := `cat /etc/marker; echo @@write; touch /probe 2>&1; echo rc=$?; echo @@mi; cat /proc/self/mountinfo`
			b := h.newBundle(id, smScript(id, script))
			marker := "root-marker-" + randHex(4)
			writeFile(t, b, "etc/marker", marker+"\n", 0o644)
			b.Update(t, func(s *specs.Spec) {
				s.Root.Readonly = c.readonly
				if c.absolute {
					s.Root.Path = b.Rootfs
				} else {
					s.Root.Path = "rootfs"
				}
			})
			secs := smRun(t, h, id, b)
			if got := strings.TrimSpace(secs[""]); got != marker {
				t.Errorf("/etc/marker inside = %q, want %q (wrong root?)", got, marker)
			}
			_, probeErr := os.Stat(filepath.Join(b.Rootfs, "probe"))
			root := smMountAt(t, smParseMountinfo(secs["mi"]), "/")
			if c.readonly {
				if !strings.Contains(secs["write"], "Read-only file system") || strings.Contains(secs["write"], "rc=0") {
					t.Errorf("touch /probe on a read-only root: %q, want Read-only file system", secs["write"])
				}
				if probeErr == nil {
					t.Error("probe file was created on the host rootfs despite root.readonly")
				}
				if !smHasOpt(root.opts, "ro") {
					t.Errorf("/ options %q lack ro", root.opts)
				}
			} else {
				if !strings.Contains(secs["write"], "rc=0") {
					t.Errorf("touch /probe on a writable root: %q, want rc=0", secs["write"])
				}
				if probeErr != nil {
					t.Errorf("probe written inside is not in the host rootfs: %v", probeErr)
				}
				if !smHasOpt(root.opts, "rw") {
					t.Errorf("/ options %q lack rw", root.opts)
				}
			}
		})
	}
}

// TestSpecMountBind: bind, rbind, ro bind and a file bind of a host tree
// with a nested mount, which only rbind carries along.
func TestSpecMountBind(t *testing.T) {
	h := newHarness(t)
	src := smHostTree(t, false)
	id := h.newID()
	script := `
echo @@bind; cat /mnt/bind/top.txt; ls -A /mnt/bind/nested
echo @@rbind; cat /mnt/rbind/top.txt /mnt/rbind/nested/inner.txt
echo @@ro; touch /mnt/ro/x 2>&1; echo rc=$?
echo @@file; cat /etc/hostfile
echo @@mi; cat /proc/self/mountinfo`
	b := h.newBundle(id, smScript(id, script), smAddMounts(
		specs.Mount{Destination: "/mnt/bind", Type: "bind", Source: src, Options: []string{"bind"}},
		specs.Mount{Destination: "/mnt/rbind", Type: "bind", Source: src, Options: []string{"rbind"}},
		specs.Mount{Destination: "/mnt/ro", Type: "bind", Source: src, Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/etc/hostfile", Type: "bind", Source: filepath.Join(src, "top.txt"), Options: []string{"bind"}},
	))
	secs := smRun(t, h, id, b)
	ms := smParseMountinfo(secs["mi"])

	if got := strings.TrimSpace(secs["bind"]); got != "top-content" {
		t.Errorf("bind: saw %q, want top.txt and an empty nested dir", got)
	}
	if smHasMount(ms, "/mnt/bind/nested") {
		t.Error("bind (non-recursive) carried the nested mount along")
	}
	smExpectOpts(t, ms, "/mnt/bind", "ext4", "rw")

	if got := strings.Fields(secs["rbind"]); len(got) != 2 || got[1] != "inner-content" {
		t.Errorf("rbind: saw %q, want top-content and inner-content", got)
	}
	smExpectOpts(t, ms, "/mnt/rbind/nested", "tmpfs")

	if !strings.Contains(secs["ro"], "Read-only file system") {
		t.Errorf("write to ro bind: %q, want Read-only file system", secs["ro"])
	}
	smExpectOpts(t, ms, "/mnt/ro", "", "ro")
	if _, err := os.Stat(filepath.Join(src, "x")); err == nil {
		t.Error("write through the ro bind reached the host")
	}

	if got := strings.TrimSpace(secs["file"]); got != "top-content" {
		t.Errorf("file bind: %q", got)
	}
	smExpectOpts(t, ms, "/etc/hostfile", "ext4")
}

// TestSpecMountRecursiveAttrs: rro/rnosuid/rnodev/rnoexec reach a nested
// mount (mount_setattr AT_RECURSIVE); plain ro on an rbind does not.
func TestSpecMountRecursiveAttrs(t *testing.T) {
	h := newHarness(t)
	src := smHostTree(t, false)
	id := h.newID()
	script := `
echo @@rro; touch /mnt/rro/nested/x 2>&1; echo rc=$?
echo @@mi; cat /proc/self/mountinfo`
	b := h.newBundle(id, smScript(id, script), smAddMounts(
		specs.Mount{Destination: "/mnt/rro", Type: "bind", Source: src,
			Options: []string{"rbind", "rro", "rnosuid", "rnodev", "rnoexec"}},
		specs.Mount{Destination: "/mnt/ro", Type: "bind", Source: src, Options: []string{"rbind", "ro"}},
	))
	secs := smRun(t, h, id, b)
	ms := smParseMountinfo(secs["mi"])
	for _, p := range []string{"/mnt/rro", "/mnt/rro/nested"} {
		smExpectOpts(t, ms, p, "", "ro", "nosuid", "nodev", "noexec")
	}
	if !strings.Contains(secs["rro"], "Read-only file system") {
		t.Errorf("write under rro nested mount: %q, want Read-only file system", secs["rro"])
	}
	if _, err := os.Stat(filepath.Join(src, "nested", "x")); err == nil {
		t.Error("write under the rro mount reached the host")
	}
	smExpectOpts(t, ms, "/mnt/ro", "", "ro")
	smExpectOpts(t, ms, "/mnt/ro/nested", "tmpfs", "rw", "!nosuid", "!noexec")
}

// TestSpecMountFilesystems: proc, sysfs (ro), tmpfs with size= and mode=,
// devpts with newinstance and ptmxmode, and mqueue, each with the options
// the spec gave.
func TestSpecMountFilesystems(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := `
echo @@proc; tr '\0' ' ' < /proc/1/cmdline; echo
echo @@sys; mkdir /sys/probe 2>&1; echo rc=$?
echo @@tmp; stat -c %a /mnt/tmp; echo data > /mnt/tmp/f && cat /mnt/tmp/f
echo @@ptmx; stat -c %a /dev/pts/ptmx
echo @@mi; cat /proc/self/mountinfo`
	b := h.newBundle(id, smScript(id, script), bundle.WithSpec(func(s *specs.Spec) {
		s.Mounts = []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
				Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0640", "mode=0600", "gid=5"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/mnt/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "size=2m", "mode=1750"}},
		}
	}))
	secs := smRun(t, h, id, b)
	ms := smParseMountinfo(secs["mi"])

	smExpectOpts(t, ms, "/proc", "proc", "nosuid", "noexec", "nodev")
	if !strings.Contains(secs["proc"], id) {
		t.Errorf("/proc/1/cmdline = %q, want the container's own init (pid namespace procfs)", secs["proc"])
	}
	smExpectOpts(t, ms, "/sys", "sysfs", "ro", "nosuid", "noexec", "nodev")
	if !strings.Contains(secs["sys"], "Read-only file system") {
		t.Errorf("mkdir in /sys: %q, want Read-only file system", secs["sys"])
	}
	tmp := smExpectOpts(t, ms, "/mnt/tmp", "tmpfs", "rw", "nosuid", "nodev", "!noexec")
	if !smHasOpt(tmp.super, "size=2048k") || !smHasOpt(tmp.super, "mode=1750") {
		t.Errorf("/mnt/tmp superblock options %q, want size=2048k and mode=1750", tmp.super)
	}
	if got := strings.Fields(secs["tmp"]); len(got) != 2 || got[0] != "1750" || got[1] != "data" {
		t.Errorf("/mnt/tmp: mode and write-back %q, want [1750 data]", got)
	}
	pts := smExpectOpts(t, ms, "/dev/pts", "devpts", "nosuid", "noexec")
	for _, o := range []string{"ptmxmode=640", "mode=600", "gid=5"} {
		if !smHasOpt(pts.super, o) {
			t.Errorf("/dev/pts superblock options %q lack %s", pts.super, o)
		}
	}
	if got := strings.TrimSpace(secs["ptmx"]); got != "640" {
		t.Errorf("/dev/pts/ptmx mode %q, want 640 (ptmxmode of a new instance)", got)
	}
	smExpectOpts(t, ms, "/dev/mqueue", "mqueue", "nosuid", "noexec", "nodev")
}

// TestSpecMountCgroup: a "cgroup" mount gives the v1 hierarchies read-only,
// each rooted at the container's own cgroup.
func TestSpecMountCgroup(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := `
echo @@self; cat /proc/self/cgroup
echo @@mkdir; mkdir /sys/fs/cgroup/memory/probe 2>&1; echo rc=$?
echo @@procs; cat /sys/fs/cgroup/pids/cgroup.procs
echo @@mi; cat /proc/self/mountinfo`
	b := h.newBundle(id, smScript(id, script), smAddMounts(specs.Mount{
		Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
		Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
	}))
	secs := smRun(t, h, id, b)
	ms := smParseMountinfo(secs["mi"])
	want := "/" + cgroupParent + "/" + id
	for _, ctrl := range []string{"memory", "pids", "devices", "freezer", "blkio", "cpuset"} {
		if _, err := os.Stat(filepath.Join(cgroupRoot, ctrl)); err != nil {
			continue
		}
		m := smExpectOpts(t, ms, "/sys/fs/cgroup/"+ctrl, "cgroup", "ro", "nosuid", "nodev", "noexec")
		if !smHasOpt(m.super, ctrl) {
			t.Errorf("/sys/fs/cgroup/%s superblock options %q lack %s", ctrl, m.super, ctrl)
		}
		if m.root != want {
			t.Errorf("/sys/fs/cgroup/%s shows host cgroup %q, want the container's %q", ctrl, m.root, want)
		}
		if !strings.Contains(secs["self"], ":"+ctrl+":"+want+"\n") {
			t.Errorf("/proc/self/cgroup lacks %s:%s: %q", ctrl, want, secs["self"])
		}
	}
	if !strings.Contains(secs["mkdir"], "Read-only file system") {
		t.Errorf("mkdir in the cgroup mount: %q, want Read-only file system", secs["mkdir"])
	}
	if !smHasOpt(strings.ReplaceAll(strings.TrimSpace(secs["procs"]), "\n", ","), "1") {
		t.Errorf("pids cgroup.procs %q lacks the container's init (pid 1)", secs["procs"])
	}
}

// TestSpecMountOverlay: an overlay with lowerdir/upperdir/workdir shows the
// lower file, and a write lands in upperdir only.
func TestSpecMountOverlay(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	dir := t.TempDir()
	lower, upper, work := filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{lower, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(lower, "lower.txt"), []byte("from-lower\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
echo @@read; cat /mnt/ov/lower.txt
echo @@write; { echo from-container > /mnt/ov/new.txt; } 2>&1; echo rc=$?
echo @@mi; cat /proc/self/mountinfo`
	b := h.newBundle(id, smScript(id, script), smAddMounts(specs.Mount{
		Destination: "/mnt/ov", Type: "overlay", Source: "overlay",
		Options: []string{"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work},
	}))
	secs := smRun(t, h, id, b)
	ms := smParseMountinfo(secs["mi"])
	smExpectOpts(t, ms, "/mnt/ov", "overlay", "rw")
	if got := strings.TrimSpace(secs["read"]); got != "from-lower" {
		t.Errorf("lower file inside = %q", got)
	}
	if !strings.Contains(secs["write"], "rc=0") {
		t.Errorf("write into the overlay: %q", secs["write"])
	}
	if data, err := os.ReadFile(filepath.Join(upper, "new.txt")); err != nil || string(data) != "from-container\n" {
		t.Errorf("upperdir/new.txt = %q, %v; want the container's write", data, err)
	}
	if _, err := os.Stat(filepath.Join(lower, "new.txt")); err == nil {
		t.Error("the write landed in lowerdir")
	}
}

// TestSpecMountPropagation: rshared, rslave and rprivate on rbinds of a
// host tree whose nested mount is shared, read from the optional fields.
func TestSpecMountPropagation(t *testing.T) {
	h := newHarness(t)
	src := smHostTree(t, true)
	id := h.newID()
	b := h.newBundle(id, smScript(id, "cat /proc/self/mountinfo"), smAddMounts(
		specs.Mount{Destination: "/mnt/sh", Type: "bind", Source: src, Options: []string{"rbind", "rshared"}},
		specs.Mount{Destination: "/mnt/sl", Type: "bind", Source: src, Options: []string{"rbind", "rslave"}},
		specs.Mount{Destination: "/mnt/pr", Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}},
	))
	secs := smRun(t, h, id, b)
	ms := smParseMountinfo(secs[""])
	for _, p := range []string{"/mnt/sh", "/mnt/sh/nested"} {
		if m := smMountAt(t, ms, p); !strings.Contains(m.optional, "shared:") {
			t.Errorf("%s (rshared): optional fields %q, want shared:N", p, m.optional)
		}
	}
	if m := smMountAt(t, ms, "/mnt/sl/nested"); !strings.Contains(m.optional, "master:") || strings.Contains(m.optional, "shared:") {
		t.Errorf("/mnt/sl/nested (rslave of a shared mount): optional fields %q, want master:N only", m.optional)
	}
	for _, p := range []string{"/mnt/sl", "/mnt/pr", "/mnt/pr/nested"} {
		if m := smMountAt(t, ms, p); strings.Contains(m.optional, "shared:") {
			t.Errorf("%s: optional fields %q, want no shared peer group", p, m.optional)
		}
	}
	if m := smMountAt(t, ms, "/mnt/pr/nested"); m.optional != "" {
		t.Errorf("/mnt/pr/nested (rprivate): optional fields %q, want none", m.optional)
	}
}

// TestSpecMountTmpcopyup: a tmpfs with tmpcopyup starts with the rootfs
// directory's files, and writes stay in the tmpfs.
func TestSpecMountTmpcopyup(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := `
echo @@files; cat /opt/data/a.txt /opt/data/sub/b.txt; readlink /opt/data/link; stat -c %a /opt/data/sub
echo @@write; { echo new > /opt/data/new.txt; } 2>&1; echo rc=$?
echo @@mi; cat /proc/self/mountinfo`
	b := h.newBundle(id, smScript(id, script), smAddMounts(specs.Mount{
		Destination: "/opt/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "mode=755"},
	}))
	if err := os.MkdirAll(filepath.Join(b.Rootfs, "opt/data/sub"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(b.Rootfs, "opt/data/sub"), 0o711); err != nil {
		t.Fatal(err)
	}
	writeFile(t, b, "opt/data/a.txt", "file-a\n", 0o644)
	writeFile(t, b, "opt/data/sub/b.txt", "file-b\n", 0o600)
	if err := os.Symlink("a.txt", filepath.Join(b.Rootfs, "opt/data/link")); err != nil {
		t.Fatal(err)
	}
	secs := smRun(t, h, id, b)
	ms := smParseMountinfo(secs["mi"])
	smExpectOpts(t, ms, "/opt/data", "tmpfs", "rw")
	if got := strings.Fields(secs["files"]); strings.Join(got, " ") != "file-a file-b a.txt 711" {
		t.Errorf("copied-up contents %q, want [file-a file-b a.txt 711]", got)
	}
	if !strings.Contains(secs["write"], "rc=0") {
		t.Errorf("write into the tmpfs (over a read-only root): %q", secs["write"])
	}
	if _, err := os.Stat(filepath.Join(b.Rootfs, "opt/data/new.txt")); err == nil {
		t.Error("a write to the tmpcopyup tmpfs reached the rootfs directory")
	}
}

// TestSpecRootfsPropagation: linux.rootfsPropagation on the container's "/".
// The rootfs's parent mount is private, so slave has no master to show:
// slave and private both appear without a peer group, as with runc.
func TestSpecRootfsPropagation(t *testing.T) {
	for _, prop := range []string{"shared", "slave", "private"} {
		t.Run(prop, func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			b := h.newBundle(id, smScript(id, "cat /proc/self/mountinfo"), bundle.WithSpec(func(s *specs.Spec) {
				s.Linux.RootfsPropagation = prop
			}))
			secs := smRun(t, h, id, b)
			root := smMountAt(t, smParseMountinfo(secs[""]), "/")
			if shared := strings.Contains(root.optional, "shared:"); shared != (prop == "shared") {
				t.Errorf("rootfsPropagation %s: / optional fields %q", prop, root.optional)
			}
		})
	}
}

// TestSpecMaskedReadonlyPaths: masked files read empty, masked directories
// are empty and read-only, read-only paths refuse writes while the rest of
// a writable root does not.
func TestSpecMaskedReadonlyPaths(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := `
echo @@secret; cat /etc/secret.txt; echo end
echo @@secretdir; ls -A /etc/secretdir; touch /etc/secretdir/x 2>&1; echo rc=$?
echo @@rodir; cat /etc/rodir/f.txt; { echo changed > /etc/rodir/f.txt; } 2>&1; echo rc=$?
echo @@ok; touch /etc/ok; echo rc=$?
echo @@timer; wc -c < /proc/timer_list
echo @@mi; cat /proc/self/mountinfo`
	b := h.newBundle(id, smScript(id, script), bundle.WithSpec(func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/etc/secret.txt", "/etc/secretdir")
		s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/etc/rodir")
	}))
	for _, d := range []string{"etc/secretdir", "etc/rodir"} {
		if err := os.Mkdir(filepath.Join(b.Rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, b, "etc/secret.txt", "top-secret\n", 0o644)
	writeFile(t, b, "etc/secretdir/inner.txt", "inner-secret\n", 0o644)
	writeFile(t, b, "etc/rodir/f.txt", "ro-content\n", 0o644)
	secs := smRun(t, h, id, b)
	ms := smParseMountinfo(secs["mi"])

	if got := strings.TrimSpace(secs["secret"]); got != "end" {
		t.Errorf("masked file reads %q, want nothing", got)
	}
	if strings.Contains(secs["secretdir"], "inner.txt") || !strings.Contains(secs["secretdir"], "Read-only file system") {
		t.Errorf("masked dir: %q, want empty and Read-only file system", secs["secretdir"])
	}
	smExpectOpts(t, ms, "/etc/secretdir", "", "ro")
	if !strings.Contains(secs["rodir"], "ro-content") || !strings.Contains(secs["rodir"], "Read-only file system") {
		t.Errorf("readonly path: %q, want readable content and Read-only file system", secs["rodir"])
	}
	smExpectOpts(t, ms, "/etc/rodir", "", "ro")
	if data, _ := os.ReadFile(filepath.Join(b.Rootfs, "etc/rodir/f.txt")); string(data) != "ro-content\n" {
		t.Errorf("read-only file changed on the host: %q", data)
	}
	if !strings.Contains(secs["ok"], "rc=0") {
		t.Errorf("write elsewhere on the writable root failed: %q", secs["ok"])
	}
	if got := strings.TrimSpace(secs["timer"]); got != "0" {
		t.Errorf("masked /proc/timer_list has %s bytes, want 0", got)
	}
	smExpectOpts(t, ms, "/proc/sys", "proc", "ro")
}
