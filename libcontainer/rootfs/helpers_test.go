package rootfs

// Test harness. Every scenario runs in a re-exec of the test binary started
// with its own mount namespace (SysProcAttr.Unshareflags CLONE_NEWNS, which
// also makes "/" rprivate there), so nothing the code under test mounts can
// reach the host; the namespace and its mounts vanish when the child exits.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	envScenario = "HUSK_ROOTFS_TEST_SCENARIO"
	envConfig   = "HUSK_ROOTFS_TEST_CONFIG"
)

// childConfig is what the parent hands to the child scenario.
type childConfig struct {
	Spec    *specs.Spec       `json:"spec"`
	Rootfs  string            `json:"rootfs"`
	NoPivot bool              `json:"noPivot"`
	Extra   map[string]string `json:"extra"`
}

// scenario is the body of a child: it gets the config and returns an error
// describing every failed expectation.
type scenario func(c *childConfig) error

var scenarios = map[string]scenario{}

func TestMain(m *testing.M) {
	if name := os.Getenv(envScenario); name != "" {
		os.Exit(runScenario(name))
	}
	os.Exit(m.Run())
}

func runScenario(name string) int {
	fn, ok := scenarios[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown scenario %q\n", name)
		return 2
	}
	data, err := os.ReadFile(os.Getenv(envConfig))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var c childConfig
	if err := json.Unmarshal(data, &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := fn(&c); err != nil {
		fmt.Fprintf(os.Stderr, "scenario %s: %v\n", name, err)
		return 1
	}
	return 0
}

// requireRoot skips tests that need real privileges.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// newRootfs builds a minimal busybox rootfs under a fresh temp dir and
// returns (tempdir, rootfs).
func newRootfs(t *testing.T) (string, string) {
	t.Helper()
	tmp := t.TempDir()
	tmp, err := filepath.EvalSymlinks(tmp)
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(tmp, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp", "run"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src, err := os.Open("/bin/busybox")
	if err != nil {
		t.Skipf("busybox-static not available: %v", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(rootfs, "bin", "busybox"), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return tmp, rootfs
}

// baseSpec is a spec with proc and a /dev tmpfs, as most runtimes generate.
func baseSpec(rootfs string) *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.MountNamespace}},
		},
	}
}

// runChild runs scenario name in a child with a new mount namespace (plus
// cloneflags) and fails the test with the child's output if it fails.
func runChild(t *testing.T, name string, c *childConfig, cloneflags uintptr, attr *syscall.SysProcAttr) {
	t.Helper()
	if err := tryChild(t, name, c, cloneflags, attr); err != nil {
		t.Fatal(err)
	}
}

func tryChild(t *testing.T, name string, c *childConfig, cloneflags uintptr, attr *syscall.SysProcAttr) error {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envScenario+"="+name, envConfig+"="+cfg)
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Unshareflags |= syscall.CLONE_NEWNS
	attr.Cloneflags |= cloneflags
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("child %s: %v\n%s", name, err, out)
	}
	if len(out) > 0 {
		t.Logf("child %s: %s", name, out)
	}
	return nil
}

// errs collects failed expectations in a child.
type errs []string

func (e *errs) add(format string, args ...any) { *e = append(*e, fmt.Sprintf(format, args...)) }

func (e errs) err() error {
	if len(e) == 0 {
		return nil
	}
	return fmt.Errorf("\n  %s", strings.Join(e, "\n  "))
}

// mountsByPoint reads the current mountinfo; for stacked mounts the top one
// (the last listed) wins.
func mountsByPoint() (map[string]*mountinfo.Info, error) {
	all, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, err
	}
	m := map[string]*mountinfo.Info{}
	for _, mi := range all {
		m[mi.Mountpoint] = mi
	}
	return m, nil
}

// hasOpt reports whether a comma-separated option list contains opt.
func hasOpt(list, opt string) bool {
	for _, o := range strings.Split(list, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// expectMount checks that mountpoint exists with fstype and every per-mount
// option in opts (a leading "!" means the option must be absent).
func expectMount(e *errs, mounts map[string]*mountinfo.Info, point, fstype string, opts ...string) *mountinfo.Info {
	mi, ok := mounts[point]
	if !ok {
		e.add("%s: not mounted", point)
		return nil
	}
	if fstype != "" && mi.FSType != fstype {
		e.add("%s: fstype %s, want %s", point, mi.FSType, fstype)
	}
	for _, o := range opts {
		if neg, ok := strings.CutPrefix(o, "!"); ok {
			if hasOpt(mi.Options, neg) {
				e.add("%s: option %s present in %s", point, neg, mi.Options)
			}
		} else if !hasOpt(mi.Options, o) {
			e.add("%s: option %s missing from %s", point, o, mi.Options)
		}
	}
	return mi
}

// statDev returns the type bits, rdev and perms of path (not following).
func statDev(path string) (uint32, uint64, uint32, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return 0, 0, 0, err
	}
	return st.Mode & unix.S_IFMT, st.Rdev, st.Mode & 0o7777, nil
}

// prepareAll runs Prepare, Pivot and Finalize.
func prepareAll(c *childConfig) error {
	cfg := &Config{Spec: c.Spec, Rootfs: c.Rootfs, NoPivot: c.NoPivot}
	if err := Prepare(cfg); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	if err := Pivot(cfg); err != nil {
		return fmt.Errorf("pivot: %w", err)
	}
	if err := Finalize(cfg); err != nil {
		return fmt.Errorf("finalize: %w", err)
	}
	return nil
}
