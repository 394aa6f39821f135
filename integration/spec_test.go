//go:build linux

package integration

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// TestSpec: `spec` writes an example config.json that runs (once made
// non-interactive) on a busybox rootfs, and refuses to overwrite one.
func TestSpec(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, []string{"true"})
	if err := os.Remove(b.ConfigPath()); err != nil {
		t.Fatal(err)
	}
	h.mustRun("spec", "--bundle", b.Dir)
	data, err := os.ReadFile(b.ConfigPath())
	if err != nil {
		t.Fatalf("spec wrote no config.json: %v", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("generated config.json: %v", err)
	}
	if s.Version == "" || s.Process == nil || s.Root == nil || s.Root.Path != "rootfs" || s.Linux == nil {
		t.Fatalf("generated spec lacks basics: %s", data)
	}
	if _, _, code := h.run("spec", "--bundle", b.Dir); code != 1 {
		t.Errorf("spec over an existing config.json: exit %d, want 1", code)
	}

	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "echo from-spec-$0", id}
	s.Linux.CgroupsPath = "/" + cgroupParent + "/" + id
	if err := bundle.WriteConfig(b.Dir, &s); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := h.run("run", "--bundle", b.Dir, id)
	if code != 0 || strings.TrimSpace(out) != "from-spec-"+id {
		t.Errorf("run of the generated spec: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
