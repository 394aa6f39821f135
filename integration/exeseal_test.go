//go:build linux

package integration

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// TestHostileExeOverwrite is the CVE-2019-5736 regression test: while `husk exec` runs repeatedly, a
// root process in the container looks for husk's init (cmdline "husk init") in its PID namespace and
// tries to write to its /proc/PID/exe. The init runs from a sealed, read-only view of the binary, so
// the husk binary on the host must be unchanged. It runs a private copy of husk, so that a failure
// cannot damage the binary the other tests use.
func TestHostileExeOverwrite(t *testing.T) {
	// The exec'd processes go through the Go init, which stays on husk's image for milliseconds: long
	// enough for the attacker below to find it. The C exec init (the default) execs within a window
	// too short to hit reliably; it runs from the same sealed binary.
	t.Setenv("HUSK_EXEC_INIT", "go")
	h := newHarness(t)
	bin := filepath.Join(t.TempDir(), "husk")
	copyFile(t, huskBinary, bin, 0o755)
	before := fileSum(t, bin)

	id := h.newID()
	// The attack of CVE-2019-5736: hold an fd of husk init's /proc/PID/exe while init runs, and write
	// through it (a new open of /proc/self/fd/N) once no husk process executes the binary any more (a
	// running executable cannot be written: ETXTBSY). One holder per init found; each checks that it
	// holds something other than the container's own busybox and logs "hit" or "ro".
	holder := `exec 3<"$1"/exe || exit 0; cmp -s /proc/self/fd/3 /bin/busybox && exit 0; ` +
		`echo held >> /tmp/held; while [ ! -e /tmp/go ]; do sleep 0.05; done; ` +
		`if (echo pwned >> /proc/self/fd/3) 2>/dev/null; then echo hit >> /tmp/log; else echo ro >> /tmp/log; fi`
	attacker := `while [ ! -e /tmp/go ]; do for p in /proc/[0-9]*; do ` +
		`if tr '\0' ' ' < $p/cmdline 2>/dev/null | grep -q '^husk init'; then sh -c '` + holder + `' holder $p & fi; ` +
		`done; done; wait; touch /tmp/done; exec sleep 1000`
	b := h.newBundle(id, []string{"sh", "-c", attacker}, bundle.WithSpec(func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Process.Capabilities = nil // plain root: uid 0 may open a same-uid dumpable process's exe
	}))
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"--root", h.root}, args...)...)
		// A file, not a pipe: a detached container inherits it and outlives the command.
		f, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			return "", err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
		err = cmd.Run()
		out, _ := os.ReadFile(f.Name())
		return string(out), err
	}
	if out, err := run("run", "-d", "--bundle", b.Dir, id); err != nil {
		t.Fatalf("run -d: %v: %s", err, out)
	}
	defer run("delete", "--force", id)
	tmp := filepath.Join(b.Rootfs, "tmp")
	for i := 0; i < 40; i++ {
		if out, err := run("exec", id, "true"); err != nil {
			t.Fatalf("exec %d: %v: %s", i, err, out)
		}
		if held, _ := os.ReadFile(filepath.Join(tmp, "held")); strings.Count(string(held), "held") >= 3 {
			break
		}
	}
	// No husk process runs now: tell the holders to write, and wait for them (bounded).
	if err := os.WriteFile(filepath.Join(tmp, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(filepath.Join(tmp, "done")); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, err := run("delete", "--force", id); err != nil {
		t.Fatalf("delete: %v: %s", err, out)
	}
	if after := fileSum(t, bin); !bytes.Equal(before, after) {
		t.Fatal("the husk binary changed: a container process wrote to it through /proc/PID/exe")
	}
	log, _ := os.ReadFile(filepath.Join(tmp, "log"))
	if strings.Contains(string(log), "hit") {
		t.Fatalf("a write through a held /proc/PID/exe of husk init succeeded (log %q)", log)
	}
	if !strings.Contains(string(log), "ro") {
		t.Skipf("the container never got hold of husk init's exe in 40 execs (log %q): nothing was tested", log)
	}
	t.Logf("writes through held fds of husk init's exe: %d, all refused", strings.Count(string(log), "ro"))
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}
