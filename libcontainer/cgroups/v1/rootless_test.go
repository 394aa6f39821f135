package v1

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const rootlessEnv = "HUSK_CGV1_ROOTLESS_PATH"

// TestRootlessApply runs the test binary as nobody: with rootless set,
// Apply drops the hierarchies it may not write to instead of failing, and
// Set then fails only for settings that ask for something.
func TestRootlessApply(t *testing.T) {
	if path := os.Getenv(rootlessEnv); path != "" {
		rootlessChild(path)
		return
	}
	requireV1(t)
	base := testBase(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "husk-cg-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cgtest")
	if err := copyFile(exe, bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestRootlessApply$", "-test.count=1")
	cmd.Env = append(os.Environ(), rootlessEnv+"="+base+"/ctr")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rootless child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "rootless-ok") {
		t.Fatalf("rootless child did not report success:\n%s", out)
	}
}

// rootlessChild checks the behaviour as an unprivileged user and exits.
func rootlessChild(path string) {
	fail := func(f string, a ...any) {
		fmt.Printf(f+"\n", a...)
		os.Exit(1)
	}
	strict, err := NewManager(path, "x", false)
	if err != nil {
		fail("NewManager: %v", err)
	}
	if err := strict.Apply(-1); err == nil {
		fail("Apply without rootless succeeded as an unprivileged user")
	}
	m, err := NewManager(path, "x", true)
	if err != nil {
		fail("NewManager: %v", err)
	}
	if err := m.Apply(-1); err != nil {
		fail("rootless Apply: %v", err)
	}
	if p := m.Paths(); len(p) != 0 {
		fail("rootless Apply kept unwritable paths %v", p)
	}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(0)}}); err != nil {
		fail("rootless Set of nothing: %v", err)
	}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p64(mib)}}); err == nil {
		fail("rootless Set of a memory limit without a memory cgroup succeeded")
	}
	fmt.Println("rootless-ok")
	os.Exit(0)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
