package cgroups

import (
	"errors"
	"os"
	"testing"
)

func TestUnsupportedDrivers(t *testing.T) {
	if _, err := New("/x", "x", true, false); !errors.Is(err, ErrUnsupportedDriver) {
		t.Errorf("New(systemd) = %v, want ErrUnsupportedDriver", err)
	}
	if _, err := Load(map[string]string{"": "/sys/fs/cgroup/x"}, false, false); !errors.Is(err, ErrUnsupportedDriver) {
		t.Errorf("Load(v2 paths) = %v, want ErrUnsupportedDriver", err)
	}
	if _, err := Load(map[string]string{"memory": "/sys/fs/cgroup/memory/x"}, true, false); !errors.Is(err, ErrUnsupportedDriver) {
		t.Errorf("Load(systemd) = %v, want ErrUnsupportedDriver", err)
	}
}

func TestNewAndLoadV1(t *testing.T) {
	v2, err := IsV2()
	if err != nil {
		t.Fatal(err)
	}
	if v2 {
		if _, err := New("/x", "x", false, false); !errors.Is(err, ErrUnsupportedDriver) {
			t.Errorf("New on v2 = %v, want ErrUnsupportedDriver", err)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, bad := range []string{"/../escape", "../escape", "/"} {
		if _, err := New(bad, "x", false, false); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
	// Nothing is created until Apply, so no cleanup is needed here.
	m, err := New("/husk-test-never-created/ctr", "ctr", false, false)
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
