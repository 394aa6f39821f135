package lsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	childEnv    = "HUSK_LSM_TEST_CHILD"
	childDirEnv = "HUSK_LSM_TEST_DIR"
)

// children are scenarios that need a private mount namespace; they run in a
// re-executed test binary and report "key=value" lines on stdout.
var children = map[string]func(report func(k, v string)) error{
	"overmount": childOvermount,
}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		runtime.LockOSThread()
		fn := children[name]
		if fn == nil {
			fmt.Fprintln(os.Stderr, "unknown child", name)
			os.Exit(2)
		}
		if err := fn(func(k, v string) { fmt.Printf("%s=%s\n", k, v) }); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// onLockedThread runs fn on a fresh OS thread that is thrown away afterwards
// (the goroutine exits while still locked), so attributes fn changes on its
// thread never leak into the test process.
func onLockedThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- fn()
	}()
	return <-done
}

func modes() map[string]bool {
	return map[string]bool{"openat2": false, "walk": true}
}

func TestProcRootRefusesNonProcfs(t *testing.T) {
	// A directory laid out like procfs, as a hostile image could ship it.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "1/task/1/attr"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "1/task/1/attr/exec")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("1/task/1", filepath.Join(dir, "thread-self")); err != nil {
		t.Fatal(err)
	}
	for name, walk := range modes() {
		err := writeThreadSelf(dir, []string{"attr/exec"}, "exec x", walk)
		if err == nil || !strings.Contains(err.Error(), "not on procfs") {
			t.Errorf("%s: want a not-on-procfs error, got %v", name, err)
		}
		err = applyAppArmor(dir, "x", true, walk)
		if err == nil || !strings.Contains(err.Error(), "not on procfs") {
			t.Errorf("%s: applyAppArmor: want a not-on-procfs error, got %v", name, err)
		}
	}
	if b, _ := os.ReadFile(target); len(b) != 0 {
		t.Errorf("fake attr file was written: %q", b)
	}
}

func TestProcRootRefusesProcSubtree(t *testing.T) {
	// A symlink into procfs and a procfs directory other than the root.
	for _, p := range []string{"/proc/self", fmt.Sprintf("/proc/%d", os.Getpid())} {
		r, err := openProcRoot(p)
		if err == nil {
			r.Close()
			t.Errorf("openProcRoot(%s) accepted a non-root procfs path", p)
		}
	}
	r, err := openProcRoot("/proc")
	if err != nil {
		t.Fatalf("openProcRoot(/proc): %v", err)
	}
	r.Close()
}

func TestProcRootOpenRefusesEscapes(t *testing.T) {
	r, err := openProcRoot("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for name, walk := range modes() {
		for _, rel := range []string{"../etc/passwd", "self/attr/exec", "/etc/passwd", "a//b", "./self"} {
			fd, err := r.open(rel, unix.O_RDONLY, walk)
			if err == nil {
				unix.Close(fd)
				t.Errorf("%s: open %q succeeded", name, rel)
			}
		}
	}
}

func TestValidThreadSelf(t *testing.T) {
	for s, want := range map[string]bool{
		"12/task/34": true, "1/task/1": true, "12/task/": false, "/task/3": false,
		"12/task/34/x": false, "../task/1": false, "12": false, "a/task/1": false,
	} {
		if got := validThreadSelf(s); got != want {
			t.Errorf("validThreadSelf(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestWriteThreadSelfComm writes through the verified handle into a
// writable per-thread procfs file (comm), falling back past a missing
// attribute first, and reads the result back.
func TestWriteThreadSelfComm(t *testing.T) {
	for name, walk := range modes() {
		want := "hlsm-" + name // comm keeps 15 bytes
		var got []byte
		err := onLockedThread(func() error {
			if err := writeThreadSelf("/proc", []string{"attr/husk-missing", "comm"}, want, walk); err != nil {
				return err
			}
			var err error
			got, err = os.ReadFile("/proc/thread-self/comm")
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(bytes.TrimSpace(got)) != want {
			t.Errorf("%s: comm = %q, want %q", name, got, want)
		}
	}
}

func TestWriteThreadSelfMissing(t *testing.T) {
	err := writeThreadSelf("/proc", []string{"attr/husk-missing"}, "x", false)
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("want ENOENT, got %v", err)
	}
}

// TestApplyAppArmorReachesKernel forces the enabled path on a host without
// an exec-attribute LSM: the write goes through the verified handle to the
// real attribute, and the kernel itself answers EINVAL (runc 1.1 fails the
// same way on such a host).
func TestApplyAppArmorReachesKernel(t *testing.T) {
	if AppArmorEnabled() || SELinuxEnabled() {
		t.Skip("an LSM handles attr/exec here")
	}
	for name, walk := range modes() {
		err := onLockedThread(func() error {
			return applyAppArmor("/proc", "husk-test-profile", true, walk)
		})
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("%s: want EINVAL from the kernel, got %v", name, err)
		}
		if err != nil && !strings.Contains(err.Error(), `apply apparmor profile "husk-test-profile"`) {
			t.Errorf("%s: error lacks context: %v", name, err)
		}
	}
}

// TestOvermountRefused mounts over the thread's attribute in a private mount
// namespace (a regular file, another procfs file, a tmpfs over the attr
// directory) and checks that the write is refused and lands nowhere; then,
// as an unprivileged user, that the attribute can still be opened.
func TestOvermountRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=overmount", childDirEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, stderr.String())
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		n++
		switch {
		case strings.HasSuffix(k, "/result"):
			if !strings.HasPrefix(v, "refused:") {
				t.Errorf("%s: write was not refused: %s", k, v)
			} else {
				t.Logf("%s: %s", k, v)
			}
		case strings.HasSuffix(k, "/changed"):
			if v != "false" {
				t.Errorf("%s: the mounted-over target was written", k)
			}
		case strings.HasPrefix(k, "nonroot/"):
			// Without an exec-attribute LSM the kernel answers EINVAL,
			// which proves the attribute was opened as an unprivileged user.
			if !AppArmorEnabled() && !SELinuxEnabled() && !strings.HasSuffix(v, "invalid argument") {
				t.Errorf("%s: want the kernel's EINVAL, got %s", k, v)
			}
		}
	}
	if n != 14 {
		t.Errorf("child reported %d lines, want 14:\n%s", n, out)
	}
}

func childOvermount(report func(k, v string)) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / rprivate: %w", err)
	}
	task := fmt.Sprintf("/proc/%d/task/%d", unix.Getpid(), unix.Gettid())
	attrDir := task + "/attr"
	attr := attrDir + "/exec"
	decoy := filepath.Join(os.Getenv(childDirEnv), "decoy")
	if err := os.WriteFile(decoy, nil, 0o644); err != nil {
		return err
	}
	comm, err := os.ReadFile(task + "/comm")
	if err != nil {
		return err
	}
	type scenario struct {
		mount   func() error
		target  string
		changed func() bool
	}
	scenarios := map[string]scenario{
		"file": {
			mount:  func() error { return unix.Mount(decoy, attr, "", unix.MS_BIND, "") },
			target: attr,
			changed: func() bool {
				b, _ := os.ReadFile(decoy)
				return len(b) != 0
			},
		},
		"procfile": {
			mount:  func() error { return unix.Mount(task+"/comm", attr, "", unix.MS_BIND, "") },
			target: attr,
			changed: func() bool {
				b, _ := os.ReadFile(task + "/comm")
				return !bytes.Equal(b, comm)
			},
		},
		"tmpfsdir": {
			mount: func() error {
				if err := unix.Mount("tmpfs", attrDir, "tmpfs", 0, "size=16k"); err != nil {
					return err
				}
				return os.WriteFile(attr, nil, 0o644)
			},
			target: attrDir,
			changed: func() bool {
				b, _ := os.ReadFile(attr)
				return len(b) != 0
			},
		},
	}
	for name, sc := range scenarios {
		for mode, walk := range modes() {
			if err := sc.mount(); err != nil {
				return fmt.Errorf("%s: mount over %s: %w", name, sc.target, err)
			}
			res := "written"
			if err := writeThreadSelf("/proc", []string{"attr/exec"}, "husk-overmount", walk); err != nil {
				res = "refused: " + err.Error()
			}
			report(name+"/"+mode+"/result", res)
			report(name+"/"+mode+"/changed", fmt.Sprint(sc.changed()))
			if err := unix.Unmount(sc.target, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("%s: unmount %s: %w", name, sc.target, err)
			}
		}
	}
	// Last, as it cannot be undone: the write also works once init has
	// switched to an unprivileged user with no capabilities left.
	if err := syscall.Setgroups(nil); err != nil {
		return err
	}
	if err := syscall.Setresgid(65534, 65534, 65534); err != nil {
		return err
	}
	if err := syscall.Setresuid(65534, 65534, 65534); err != nil {
		return err
	}
	for mode, walk := range modes() {
		res := "written"
		if err := applyAppArmor("/proc", "husk-test-profile", true, walk); err != nil {
			res = "error: " + err.Error()
		}
		report("nonroot/"+mode, res)
	}
	return nil
}
