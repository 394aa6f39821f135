package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	scenarios["full"] = scenarioFull
	scenarios["nopivot"] = scenarioNoPivot
	scenarios["cgroupns"] = scenarioCgroupNS
	scenarios["userns"] = scenarioUserNS
}

func ptr[T any](v T) *T { return &v }

// TestFull mounts every supported type with a spread of options, devices,
// masked and read-only paths, a read-only root and the console, then looks
// at the result from inside the new root.
func TestFull(t *testing.T) {
	requireRoot(t)
	tmp, rootfs := newRootfs(t)
	hostdir := filepath.Join(tmp, "hostdir")
	must(t, os.MkdirAll(filepath.Join(hostdir, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(hostdir, "hello"), []byte("hi"), 0o644))
	hostfile := filepath.Join(tmp, "hostname")
	must(t, os.WriteFile(hostfile, []byte("husk-test\n"), 0o644))
	app := filepath.Join(rootfs, "opt", "app")
	must(t, os.MkdirAll(filepath.Join(app, "d"), 0o755))
	must(t, os.Chmod(filepath.Join(app, "d"), 0o700))
	must(t, os.WriteFile(filepath.Join(app, "a.txt"), []byte("A"), 0o640))
	must(t, os.Chmod(filepath.Join(app, "a.txt"), 0o640))
	must(t, os.Chown(filepath.Join(app, "a.txt"), 1, 2))
	must(t, os.WriteFile(filepath.Join(app, "d", "b"), []byte("B"), 0o644))
	must(t, os.Symlink("a.txt", filepath.Join(app, "l")))

	spec := baseSpec(rootfs)
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		specs.Mount{Destination: "/data", Type: "bind", Source: hostdir, Options: []string{"rbind", "ro", "nosuid"}},
		specs.Mount{Destination: "/rdata", Type: "none", Source: hostdir, Options: []string{"rbind", "rro", "rnoexec"}},
		specs.Mount{Destination: "/etc/hostname", Type: "bind", Source: hostfile, Options: []string{"bind", "ro"}},
		specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755", "shared"}},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"noatime", "noexec", "size=1m"}},
		specs.Mount{Destination: "/opt/app", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup"}},
		specs.Mount{Destination: "/strict", Type: "tmpfs", Source: "tmpfs", Options: []string{"strictatime", "nodiratime", "sync", "nosymfollow"}},
	)
	// Overlay with a lowerdir list longer than one fsconfig string: the
	// child creates the layers on a tmpfs of its own.
	ovl := filepath.Join(tmp, "ovl")
	must(t, os.Mkdir(ovl, 0o755))
	var lowers []string
	for i := range 12 {
		lowers = append(lowers, filepath.Join(ovl, fmt.Sprintf("lower-layer-with-a-long-name-%02d", i)))
	}
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/ovl", Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + strings.Join(lowers, ":"), "upperdir=" + filepath.Join(ovl, "upper"), "workdir=" + filepath.Join(ovl, "work"),
	}})
	spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: ptr(os.FileMode(0o600)), UID: ptr(uint32(1)), GID: ptr(uint32(2))},
		{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200},
	}
	spec.Linux.MaskedPaths = []string{"/proc/kcore", "/proc/keys", "/proc/nonexistent", "/sys/firmware", "/proc/timer_list", "/proc/acpi"}
	spec.Linux.ReadonlyPaths = []string{"/proc/sys", "/proc/irq", "/proc/sysrq-trigger", "/proc/missing"}
	spec.Root.Readonly = true

	runChild(t, "full", &childConfig{Spec: spec, Rootfs: rootfs, Extra: map[string]string{
		"hostdir": hostdir, "ovl": ovl, "lowers": strings.Join(lowers, ":"),
	}}, 0, nil)
}

func scenarioFull(c *childConfig) error {
	// A submount in the bind source: "ro" must not reach it, "rro" must.
	if err := unix.Mount("tmpfs", filepath.Join(c.Extra["hostdir"], "sub"), "tmpfs", 0, ""); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", c.Extra["ovl"], "tmpfs", 0, ""); err != nil {
		return err
	}
	dirs := append(strings.Split(c.Extra["lowers"], ":"), filepath.Join(c.Extra["ovl"], "upper"), filepath.Join(c.Extra["ovl"], "work"))
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dirs[3], "lowerfile"), []byte("L"), 0o644); err != nil {
		return err
	}
	if err := prepareAll(c); err != nil {
		return err
	}
	var e errs
	expectMount(&e, mounts0(), "/ovl", "overlay")
	if data, err := os.ReadFile("/ovl/lowerfile"); err != nil || string(data) != "L" {
		e.add("/ovl/lowerfile: %q, %v", data, err)
	}
	if err := os.WriteFile("/ovl/new", []byte("n"), 0o644); err != nil {
		e.add("write to overlay: %v", err)
	}
	consoleRdev := checkConsole(&e)

	mounts, err := mountsByPoint()
	if err != nil {
		return err
	}
	expectMount(&e, mounts, "/", "", "ro")
	expectMount(&e, mounts, "/proc", "proc", "nosuid", "noexec", "nodev")
	expectMount(&e, mounts, "/dev", "tmpfs", "nosuid", "!relatime", "!noatime")
	expectMount(&e, mounts, "/dev/pts", "devpts", "nosuid", "noexec")
	if mi := expectMount(&e, mounts, "/dev/shm", "tmpfs", "nosuid", "noexec", "nodev"); mi != nil {
		if !hasOpt(mi.VFSOptions, "size=65536k") {
			e.add("/dev/shm: super options %s", mi.VFSOptions)
		}
		if fi, err := os.Stat("/dev/shm"); err != nil || fi.Mode().Perm()|fi.Mode()&os.ModeSticky != 0o777|os.ModeSticky {
			e.add("/dev/shm: mode %v, %v", fi.Mode(), err)
		}
	}
	expectMount(&e, mounts, "/dev/mqueue", "mqueue", "nosuid")
	expectMount(&e, mounts, "/sys", "sysfs", "ro", "nosuid", "noexec", "nodev")
	expectMount(&e, mounts, "/data", "", "ro", "nosuid")
	expectMount(&e, mounts, "/data/sub", "tmpfs", "rw")
	expectMount(&e, mounts, "/rdata", "", "ro", "noexec")
	expectMount(&e, mounts, "/rdata/sub", "tmpfs", "ro", "noexec")
	expectMount(&e, mounts, "/etc/hostname", "", "ro")
	if mi := expectMount(&e, mounts, "/run", "tmpfs", "nosuid", "nodev"); mi != nil && !strings.Contains(mi.Optional, "shared:") {
		e.add("/run: not shared (%q)", mi.Optional)
	}
	if mi := expectMount(&e, mounts, "/tmp", "tmpfs", "noatime", "noexec"); mi != nil && !hasOpt(mi.VFSOptions, "size=1024k") {
		e.add("/tmp: super options %s", mi.VFSOptions)
	}
	if mi := expectMount(&e, mounts, "/strict", "tmpfs", "!relatime", "!noatime", "nodiratime", "nosymfollow"); mi != nil && !hasOpt(mi.VFSOptions, "sync") {
		e.add("/strict: super options %s", mi.VFSOptions)
	}
	expectMount(&e, mounts, "/opt/app", "tmpfs")
	checkCgroupV1(&e, mounts)
	checkFiles(&e)
	checkDevices(&e)

	// masked and read-only paths
	if data, err := os.ReadFile("/proc/keys"); err != nil || len(data) != 0 {
		e.add("/proc/keys not masked: %d bytes, %v", len(data), err)
	}
	expectMount(&e, mounts, "/proc/timer_list", "tmpfs") // /dev/null lives on the /dev tmpfs
	for _, dir := range []string{"/sys/firmware", "/proc/acpi"} {
		if mi := expectMount(&e, mounts, dir, "tmpfs", "ro"); mi != nil {
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				e.add("%s not empty", dir)
			}
		}
	}
	expectMount(&e, mounts, "/proc/sys", "proc", "ro")
	expectMount(&e, mounts, "/proc/irq", "proc", "ro")
	if err := os.WriteFile("/proc/sys/kernel/hostname", []byte("x"), 0); !errors.Is(err, unix.EROFS) {
		e.add("write /proc/sys/kernel/hostname: %v, want EROFS", err)
	}
	if err := os.WriteFile("/newfile", nil, 0o644); !errors.Is(err, unix.EROFS) {
		e.add("create /newfile on read-only root: %v, want EROFS", err)
	}
	if _, ok := mounts["/proc/nonexistent"]; ok {
		e.add("missing masked path got mounted")
	}

	if mi := expectMount(&e, mounts, "/dev/console", "devpts"); mi != nil {
		typ, rdev, _, err := statDev("/dev/console")
		if err != nil || typ != unix.S_IFCHR || rdev != consoleRdev {
			e.add("/dev/console: type %o rdev %d (want %d), %v", typ, rdev, consoleRdev, err)
		}
	}
	if wd, err := os.Getwd(); err != nil || wd != "/" {
		e.add("cwd %q, %v", wd, err)
	}
	return e.err()
}

// checkConsole allocates a pty in the container's devpts and mounts its
// peer on /dev/console; it returns the peer's rdev.
func checkConsole(e *errs) uint64 {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		e.add("open /dev/ptmx: %v", err)
		return 0
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		e.add("unlockpt: %v", err)
		return 0
	}
	pfd, err := unix.IoctlRetInt(int(master.Fd()), unix.TIOCGPTPEER)
	if err != nil {
		// TIOCGPTPEER takes open flags as its argument; IoctlRetInt passes 0.
		e.add("TIOCGPTPEER: %v", err)
		return 0
	}
	peer := os.NewFile(uintptr(pfd), "pts-peer")
	defer peer.Close()
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		e.add("stat peer: %v", err)
		return 0
	}
	if err := MountConsole(peer); err != nil {
		e.add("MountConsole: %v", err)
	}
	return st.Rdev
}

func checkCgroupV1(e *errs, mounts map[string]*mountinfo.Info) {
	expectMount(e, mounts, "/sys/fs/cgroup", "tmpfs", "ro", "nosuid", "nodev", "noexec")
	lines, err := procCgroupLines()
	if err != nil {
		e.add("read /proc/self/cgroup: %v", err)
		return
	}
	found := 0
	for point, mi := range mounts {
		if !strings.HasPrefix(point, "/sys/fs/cgroup/") {
			continue
		}
		found++
		if mi.FSType != "cgroup" || !hasOpt(mi.Options, "ro") {
			e.add("%s: %s %s", point, mi.FSType, mi.Options)
		}
		name := filepath.Base(point)
		for _, l := range lines {
			if l[1] != "" && strings.Contains(mi.VFSOptions, strings.Split(l[1], ",")[0]) && mi.Root != l[2] {
				e.add("%s: root %s, want the container's cgroup %s", point, mi.Root, l[2])
			}
		}
		for _, ctrl := range strings.Split(name, ",") {
			if ctrl == name {
				continue
			}
			if target, err := os.Readlink("/sys/fs/cgroup/" + ctrl); err != nil || target != name {
				e.add("/sys/fs/cgroup/%s -> %q, %v", ctrl, target, err)
			}
		}
	}
	if found == 0 {
		e.add("no cgroup hierarchy under /sys/fs/cgroup")
	}
}

func checkFiles(e *errs) {
	if data, err := os.ReadFile("/data/hello"); err != nil || string(data) != "hi" {
		e.add("/data/hello: %q, %v", data, err)
	}
	if data, err := os.ReadFile("/etc/hostname"); err != nil || string(data) != "husk-test\n" {
		e.add("/etc/hostname: %q, %v", data, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat("/opt/app/a.txt", &st); err != nil || st.Mode&0o7777 != 0o640 || st.Uid != 1 || st.Gid != 2 {
		e.add("/opt/app/a.txt: mode %o uid %d gid %d, %v", st.Mode&0o7777, st.Uid, st.Gid, err)
	}
	if data, err := os.ReadFile("/opt/app/a.txt"); err != nil || string(data) != "A" {
		e.add("/opt/app/a.txt: %q, %v", data, err)
	}
	if err := unix.Lstat("/opt/app/d", &st); err != nil || st.Mode&0o7777 != 0o700 {
		e.add("/opt/app/d: mode %o, %v", st.Mode&0o7777, err)
	}
	if data, err := os.ReadFile("/opt/app/d/b"); err != nil || string(data) != "B" {
		e.add("/opt/app/d/b: %q, %v", data, err)
	}
	if target, err := os.Readlink("/opt/app/l"); err != nil || target != "a.txt" {
		e.add("/opt/app/l -> %q, %v", target, err)
	}
}

func checkDevices(e *errs) {
	for _, d := range []struct {
		path         string
		major, minor uint32
		perm         uint32
	}{
		{"/dev/null", 1, 3, 0o666},
		{"/dev/zero", 1, 5, 0o666},
		{"/dev/full", 1, 7, 0o666},
		{"/dev/random", 1, 8, 0o666},
		{"/dev/urandom", 1, 9, 0o666},
		{"/dev/tty", 5, 0, 0o666},
		{"/dev/fuse", 10, 229, 0o600},
		{"/dev/net/tun", 10, 200, 0o666},
	} {
		typ, rdev, perm, err := statDev(d.path)
		if err != nil || typ != unix.S_IFCHR || rdev != unix.Mkdev(d.major, d.minor) || perm != d.perm {
			e.add("%s: type %o rdev %d:%d perm %o, %v", d.path, typ, unix.Major(rdev), unix.Minor(rdev), perm, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat("/dev/fuse", &st); err != nil || st.Uid != 1 || st.Gid != 2 {
		e.add("/dev/fuse owner %d:%d, %v", st.Uid, st.Gid, err)
	}
	for link, want := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
		"/dev/stderr": "/proc/self/fd/2", "/dev/ptmx": "pts/ptmx",
	} {
		if got, err := os.Readlink(link); err != nil || got != want {
			e.add("%s -> %q, %v", link, got, err)
		}
	}
	f, err := os.Open("/dev/zero")
	if err != nil {
		e.add("open /dev/zero: %v", err)
		return
	}
	defer f.Close()
	buf := []byte{1, 1, 1}
	if _, err := f.Read(buf); err != nil || !bytes.Equal(buf, []byte{0, 0, 0}) {
		e.add("read /dev/zero: %v %v", buf, err)
	}
}

// TestNoPivot uses MS_MOVE + chroot.
func TestNoPivot(t *testing.T) {
	requireRoot(t)
	_, rootfs := newRootfs(t)
	spec := baseSpec(rootfs)
	spec.Linux.MaskedPaths = []string{"/proc/keys"}
	runChild(t, "nopivot", &childConfig{Spec: spec, Rootfs: rootfs, NoPivot: true}, 0, nil)
}

func scenarioNoPivot(c *childConfig) error {
	if err := prepareAll(c); err != nil {
		return err
	}
	var e errs
	if wd, err := os.Getwd(); err != nil || wd != "/" {
		e.add("cwd %q, %v", wd, err)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		e.add("busybox not at /bin/busybox: %v", err)
	}
	mounts, err := mountsByPoint()
	if err != nil {
		return err
	}
	expectMount(&e, mounts, "/proc", "proc")
	expectMount(&e, mounts, "/proc/keys", "")
	for p, mi := range mounts {
		if mi.FSType == "proc" && p != "/proc" && !strings.HasPrefix(p, "/proc/") {
			e.add("host procfs still visible at %s", p)
		}
	}
	return e.err()
}

// TestCgroupNamespace mounts real cgroup v1 filesystems in a cgroup namespace.
func TestCgroupNamespace(t *testing.T) {
	requireRoot(t)
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		t.Skip("needs a cgroup v1 host")
	}
	_, rootfs := newRootfs(t)
	spec := baseSpec(rootfs)
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	)
	runChild(t, "cgroupns", &childConfig{Spec: spec, Rootfs: rootfs}, unix.CLONE_NEWCGROUP, nil)
}

func scenarioCgroupNS(c *childConfig) error {
	if err := prepareAll(c); err != nil {
		return err
	}
	var e errs
	mounts, err := mountsByPoint()
	if err != nil {
		return err
	}
	expectMount(&e, mounts, "/sys/fs/cgroup", "tmpfs", "ro")
	found := 0
	for p, mi := range mounts {
		if strings.HasPrefix(p, "/sys/fs/cgroup/") {
			found++
			if mi.FSType != "cgroup" || mi.Root != "/" || !hasOpt(mi.Options, "ro") {
				e.add("%s: %s root %s %s", p, mi.FSType, mi.Root, mi.Options)
			}
		}
	}
	if found == 0 {
		e.add("no cgroup hierarchy under /sys/fs/cgroup")
	}
	return e.err()
}

// TestUserNamespace: mknod is not permitted, so the default devices are
// bind-mounted from the host.
func TestUserNamespace(t *testing.T) {
	requireRoot(t)
	_, rootfs := newRootfs(t)
	spec := baseSpec(rootfs)
	spec.Linux.MaskedPaths = []string{"/proc/keys"}
	attr := &syscall.SysProcAttr{
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	runChild(t, "userns", &childConfig{Spec: spec, Rootfs: rootfs}, unix.CLONE_NEWUSER|unix.CLONE_NEWPID, attr)
}

func scenarioUserNS(c *childConfig) error {
	if err := prepareAll(c); err != nil {
		return err
	}
	var e errs
	mounts, err := mountsByPoint()
	if err != nil {
		return err
	}
	for _, p := range []string{"/dev/null", "/dev/zero", "/dev/tty"} {
		expectMount(&e, mounts, p, "")
	}
	if typ, rdev, _, err := statDev("/dev/null"); err != nil || typ != unix.S_IFCHR || rdev != unix.Mkdev(1, 3) {
		e.add("/dev/null: %o %d %v", typ, rdev, err)
	}
	if data, err := os.ReadFile("/proc/keys"); err != nil || len(data) != 0 {
		e.add("/proc/keys not masked: %d bytes, %v", len(data), err)
	}
	return e.err()
}

// mounts0 is mountsByPoint for callers that report errors themselves.
func mounts0() map[string]*mountinfo.Info {
	m, _ := mountsByPoint()
	return m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
