package v1

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	"golang.org/x/sys/unix"
)

func TestApplyMovesPidEverywhere(t *testing.T) {
	requireV1(t)
	base := testBase(t)
	m := newTestManager(t, base+"/ctr")
	s := startSleep(t)
	if err := m.Apply(s.pid()); err != nil {
		t.Fatal(err)
	}
	got := procCgroups(t, s.pid())
	for k, dir := range m.Paths() {
		if got[k] != base+"/ctr" {
			t.Errorf("%s: process is in %q, want %q", k, got[k], base+"/ctr")
		}
		if !strings.HasSuffix(dir, base+"/ctr") {
			t.Errorf("%s: path %s does not end in %s", k, dir, base+"/ctr")
		}
	}
	if _, ok := m.Paths()["memory"]; !ok {
		t.Error("no memory path")
	}
	pids, err := m.Pids()
	if err != nil || !slices.Equal(pids, []int{s.pid()}) {
		t.Errorf("Pids() = %v, %v; want [%d]", pids, err, s.pid())
	}
	if err := m.Destroy(); err == nil {
		t.Error("Destroy with a live process succeeded")
	}
}

func TestApplyCreateOnlyAndCpusetInherit(t *testing.T) {
	requireV1(t)
	base := testBase(t)
	m := newTestManager(t, base+"/a/b")
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	d, ok := m.Paths()["cpuset"]
	if !ok {
		t.Skip("no cpuset hierarchy")
	}
	root := readFile(t, filepath.Dir(filepath.Dir(filepath.Dir(d))), "cpuset.cpus")
	for _, dir := range []string{filepath.Dir(filepath.Dir(d)), filepath.Dir(d), d} {
		if got := readFile(t, dir, "cpuset.cpus"); got != root {
			t.Errorf("%s cpuset.cpus = %q, want %q", dir, got, root)
		}
		if got := readFile(t, dir, "cpuset.mems"); got == "" {
			t.Errorf("%s cpuset.mems is empty", dir)
		}
	}
	// A task can join the new cpuset.
	s := startSleep(t)
	if err := m.Apply(s.pid()); err != nil {
		t.Fatal(err)
	}
}

func TestFreezeThaw(t *testing.T) {
	requireV1(t)
	base := testBase(t)
	m := newTestManager(t, base)
	if _, ok := m.Paths()["freezer"]; !ok {
		t.Skip("no freezer hierarchy")
	}
	s := startSleep(t)
	if err := m.Apply(s.pid()); err != nil {
		t.Fatal(err)
	}
	if st, err := m.FreezerState(); err != nil || st != common.Thawed {
		t.Fatalf("FreezerState() = %q, %v; want THAWED", st, err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, m.Paths()["freezer"], "freezer.state"); got != "FROZEN" {
		t.Errorf("freezer.state = %q after Freeze", got)
	}
	if st, err := m.FreezerState(); err != nil || st != common.Frozen {
		t.Errorf("FreezerState() = %q, %v; want FROZEN", st, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, m.Paths()["freezer"], "freezer.state"); got != "THAWED" {
		t.Errorf("freezer.state = %q after Thaw", got)
	}
	if st, err := m.FreezerState(); err != nil || st != common.Thawed {
		t.Errorf("FreezerState() = %q, %v; want THAWED", st, err)
	}
}

func TestPidsKillDestroyWithSubCgroup(t *testing.T) {
	requireV1(t)
	base := testBase(t)
	m := newTestManager(t, base)
	a, b := startSleep(t), startSleep(t)
	if err := m.Apply(a.pid()); err != nil {
		t.Fatal(err)
	}
	// The container makes a sub-cgroup of its own in some hierarchies and
	// moves a process there.
	sub := newTestManager(t, base+"/inner")
	if err := sub.Apply(b.pid()); err != nil {
		t.Fatal(err)
	}
	want := []int{a.pid(), b.pid()}
	slices.Sort(want)
	pids, err := m.Pids()
	if err != nil || !slices.Equal(pids, want) {
		t.Fatalf("Pids() = %v, %v; want %v", pids, err, want)
	}
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sleeper{a, b} {
		err := s.cmd.Wait()
		var ee interface{ Sys() any }
		if !errors.As(err, &ee) {
			t.Fatalf("wait %d: %v", s.pid(), err)
		}
		if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("pid %d: wait status %v, want killed by SIGKILL", s.pid(), ws)
		}
	}
	if st, err := m.FreezerState(); err != nil || (st != common.Thawed && st != common.Undefined) {
		t.Errorf("after Kill FreezerState() = %q, %v", st, err)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for k, d := range m.Paths() {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s still exists after Destroy", k, d)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if pids, err := m.Pids(); err != nil || len(pids) != 0 {
		t.Errorf("Pids() after Destroy = %v, %v", pids, err)
	}
}

func TestKillKeepsPausedContainerPaused(t *testing.T) {
	requireV1(t)
	base := testBase(t)
	m := newTestManager(t, base)
	if _, ok := m.Paths()["freezer"]; !ok {
		t.Skip("no freezer hierarchy")
	}
	s := startSleep(t)
	if err := m.Apply(s.pid()); err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := m.Kill(unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.FreezerState(); st != common.Frozen {
		t.Errorf("after Kill(SIGUSR1) on a paused container: %q, want FROZEN", st)
	}
	if err := m.Kill(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.FreezerState(); st != common.Thawed {
		t.Errorf("after Kill(SIGKILL): %q, want THAWED", st)
	}
	_ = s.cmd.Wait()
}

func TestPathResolution(t *testing.T) {
	requireV1(t)
	hs, err := discover()
	if err != nil {
		t.Fatal(err)
	}
	own := map[string]string{}
	for _, h := range hs {
		d, err := h.ownDir()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range h.keys {
			own[k] = d
		}
	}
	abs := newTestManager(t, "/x/../a/b")
	rel := newTestManager(t, "a/b")
	byID, err := NewManager("", "ctr-id", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		for _, k := range h.keys {
			if got, want := abs.Paths()[k], filepath.Join(h.mountpoint, "a/b"); got != want {
				t.Errorf("absolute %s: %s, want %s", k, got, want)
			}
			if got, want := rel.Paths()[k], filepath.Join(own[k], "a/b"); got != want {
				t.Errorf("relative %s: %s, want %s", k, got, want)
			}
			if got, want := byID.Paths()[k], filepath.Join(own[k], "ctr-id"); got != want {
				t.Errorf("empty path %s: %s, want %s", k, got, want)
			}
		}
	}
	for _, bad := range []string{"/../x", "../x", "a/../../x", "/a/../..", "/", ".", "a/.."} {
		if _, err := NewManager(bad, "id", false); err == nil {
			t.Errorf("NewManager(%q) succeeded", bad)
		}
	}
	if _, err := NewManager("", "a/b", false); err == nil {
		t.Error("empty path with id containing / succeeded")
	}
}

func TestLoadManager(t *testing.T) {
	requireV1(t)
	base := testBase(t)
	m := newTestManager(t, base)
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	l, err := LoadManager(m.Paths(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(l.Paths(), m.Paths()) {
		t.Errorf("loaded paths %v, want %v", l.Paths(), m.Paths())
	}
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	mem := m.Paths()["memory"]
	bad := []map[string]string{
		{"memory": "/sys/fs/cgroup/memory"},
		{"memory": "/etc"},
		{"memory": "/sys/fs/cgroup/memory/../cpu/x"},
		{"memory": "relative/x"},
		{"no-such-controller": mem},
	}
	for _, p := range bad {
		if _, err := LoadManager(p, false); err == nil {
			t.Errorf("LoadManager(%v) succeeded", p)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
