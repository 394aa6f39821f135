//go:build linux

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLeakCheckFindsLeaks makes one leak of each kind the check looks for
// (except mounts, which would touch the host mount namespace) and verifies
// that findLeaks reports each and rescue removes them.
func TestLeakCheckFindsLeaks(t *testing.T) {
	root := t.TempDir()
	h := &harness{t: t, root: root, tmp: t.TempDir(), prefix: "it-selftest-" + randHex(3), fds: openFDs()}

	if err := os.Mkdir(filepath.Join(root, h.prefix+"-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	// One process, no children, whose argv[0] carries the prefix.
	cmd := exec.Command("/bin/sleep", "1000")
	cmd.Args[0] = h.prefix
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})
	cg := filepath.Join(cgroupRoot, "pids", cgroupParent, h.prefix+"-1")
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.Remove(cg)
		_ = os.Remove(filepath.Dir(cg)) // fails harmlessly while other tests use it
	})
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	l := h.findLeaks()
	report := strings.Join(l.all, "\n")
	for _, want := range []string{"process ", "state dir " + root, "cgroup " + cg, "fd ", "/dev/null"} {
		if !strings.Contains(report, want) {
			t.Errorf("leak report lacks %q:\n%s", want, report)
		}
	}
	h.rescue(l)
	<-waited
	l = h.findLeaks()
	if len(l.procs)+len(l.states)+len(l.cgroups) != 0 {
		t.Errorf("after rescue still found: %v", l.all)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/a/b`:          "/a/b",
		`/a\040b`:       "/a b",
		`/tab\011x\134`: "/tab\tx\\",
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
