//go:build linux

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExecSubCgroup: `exec --cgroup [ctrl:]path` runs the process in an existing sub-cgroup of the
// container for the named controllers (all when none is named) and in the container's own cgroup for
// the rest; a missing or escaping sub-cgroup fails with exit 255.
func TestExecSubCgroup(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	h.start(id)
	defer h.run("delete", "--force", id)
	base := "/" + cgroupParent + "/" + id
	for _, ctrl := range []string{"memory", "pids"} {
		if err := os.Mkdir(filepath.Join(cgroupRoot, ctrl, base, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lines := func(out string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.SplitN(l, ":", 3); len(f) == 3 {
				m[f[1]] = f[2]
			}
		}
		return m
	}
	got := lines(h.mustRun("exec", "--cgroup", "memory:sub", id, "cat", "/proc/self/cgroup"))
	if got["memory"] != base+"/sub" || got["pids"] != base {
		t.Fatalf("--cgroup memory:sub: memory=%q pids=%q, want %q and %q", got["memory"], got["pids"], base+"/sub", base)
	}
	got = lines(h.mustRun("exec", "--cgroup", "memory,pids:sub", id, "cat", "/proc/self/cgroup"))
	if got["memory"] != base+"/sub" || got["pids"] != base+"/sub" || got["cpu"] != base {
		t.Fatalf("--cgroup memory,pids:sub: got %v", got)
	}
	for _, bad := range []string{"nope", "memory:../../x", "nosuchctrl:sub"} {
		_, stderr, code := h.run("exec", "--cgroup", bad, id, "true")
		if code != 255 || !strings.Contains(stderr, "cgroup") {
			t.Fatalf("--cgroup %s: exit %d, stderr %q; want 255 and a cgroup error", bad, code, stderr)
		}
	}
}
