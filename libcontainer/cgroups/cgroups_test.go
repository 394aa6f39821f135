package cgroups

import (
	"errors"
	"os"
	"testing"

	"github.com/husk-runtime/husk/libcontainer/cgroups/systemd"
)

func TestUnsupportedDrivers(t *testing.T) {
	v2, err := IsV2()
	if err != nil {
		t.Fatal(err)
	}
	if !systemd.IsRunning() {
		if _, err := New("system.slice:x:y", "x", true, false, nil); !errors.Is(err, ErrSystemdNotRunning) {
			t.Errorf("New(systemd) without systemd = %v, want ErrSystemdNotRunning", err)
		}
		if _, err := Load(map[string]string{"": "/sys/fs/cgroup/x.scope"}, true, false); !errors.Is(err, ErrSystemdNotRunning) {
			t.Errorf("Load(systemd) without systemd = %v, want ErrSystemdNotRunning", err)
		}
	} else if !v2 {
		if _, err := New("system.slice:x:y", "x", true, false, nil); !errors.Is(err, ErrSystemdOnV1) {
			t.Errorf("New(systemd) on v1 = %v, want ErrSystemdOnV1", err)
		}
	}
	if !v2 {
		if _, err := Load(map[string]string{"": "/sys/fs/cgroup/x"}, false, false); !errors.Is(err, ErrUnsupportedDriver) {
			t.Errorf("Load(v2 paths) on v1 = %v, want ErrUnsupportedDriver", err)
		}
	}
}

func TestNewAndLoadV1(t *testing.T) {
	v2, err := IsV2()
	if err != nil {
		t.Fatal(err)
	}
	if v2 {
		m, err := New("/husk-test-never-created/ctr", "ctr", false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Paths()[""]; got != "/sys/fs/cgroup/husk-test-never-created/ctr" {
			t.Errorf("v2 path = %q", got)
		}
		if _, err := Load(m.Paths(), false, false); err != nil {
			t.Errorf("Load on v2: %v", err)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, bad := range []string{"/../escape", "../escape", "/"} {
		if _, err := New(bad, "x", false, false, nil); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
	// Nothing is created until Apply, so no cleanup is needed here.
	m, err := New("/husk-test-never-created/ctr", "ctr", false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	paths := m.Paths()
	if len(paths) == 0 {
		t.Fatal("no paths")
	}
	for k, p := range paths {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: New created %s", k, p)
		}
	}
	l, err := Load(paths, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Paths(); len(got) != len(paths) || got["memory"] != paths["memory"] {
		t.Errorf("Load paths = %v, want %v", got, paths)
	}
	if st, err := l.FreezerState(); err != nil || (st != FreezerThawed && st != FreezerUndefined) {
		t.Errorf("FreezerState of a missing cgroup: %q, %v", st, err)
	}
	if pids, err := l.Pids(); err != nil || len(pids) != 0 {
		t.Errorf("Pids of a missing cgroup: %v, %v", pids, err)
	}
	if err := l.Destroy(); err != nil {
		t.Errorf("Destroy of a missing cgroup: %v", err)
	}
	if _, err := Load(map[string]string{"memory": "/etc"}, false, false); err == nil {
		t.Error("Load outside the hierarchy succeeded")
	}
}
