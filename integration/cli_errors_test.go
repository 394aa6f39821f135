//go:build linux

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartErrors: start refuses a running and a stopped container with the
// reference runtime's messages.
func TestStartErrors(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	h.start(id)
	_, errOut, code := h.run("start", id)
	expectError(t, errOut, code, "cannot start an already running container")
	h.mustRun("kill", id, "KILL")
	h.waitStatus(id, "stopped")
	_, errOut, code = h.run("start", id)
	expectError(t, errOut, code, "cannot start a container that has stopped")
	h.mustRun("delete", id)
}

// TestDeleteCreated: plain delete removes a created, never started
// container (it has not run anything yet).
func TestDeleteCreated(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	h.mustRun("delete", id)
	_, errOut, code := h.run("state", id)
	expectError(t, errOut, code, "container does not exist")
}

// TestKillBadSignal: an unknown signal name is an error and the container
// keeps running.
func TestKillBadSignal(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	h.start(id)
	_, errOut, code := h.run("kill", id, "NOSUCHSIG")
	expectError(t, errOut, code, "unknown signal")
	if st := h.state(id); st.Status != "running" {
		t.Errorf("status after a bad kill = %q, want running", st.Status)
	}
	h.mustRun("delete", "--force", id)
}

// TestArgumentErrors: a missing container ID or an unknown flag exits 1
// with the reference runtime's message.
func TestArgumentErrors(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create"}, `"create" requires exactly 1 argument(s)`},
		{[]string{"start"}, `"start" requires exactly 1 argument(s)`},
		{[]string{"state"}, `"state" requires exactly 1 argument(s)`},
		{[]string{"delete"}, `"delete" requires exactly 1 argument(s)`},
		{[]string{"kill"}, `"kill" requires a minimum of 1 argument(s)`},
		{[]string{"create", "--no-such-flag", "x"}, "flag provided but not defined"},
	} {
		_, errOut, code := h.run(c.args...)
		if code != 1 {
			t.Errorf("husk %s: exit %d, want 1", strings.Join(c.args, " "), code)
		}
		if !strings.Contains(errorMessage(errOut), c.want) && !strings.Contains(errOut, c.want) {
			t.Errorf("husk %s: stderr %q lacks %q", strings.Join(c.args, " "), errOut, c.want)
		}
	}
	if _, _, code := h.run("no-such-command"); code == 0 {
		t.Error("an unknown command exited 0")
	}
}

// TestInvalidIDs: IDs that are not a single safe path element are refused
// before anything is created, inside or outside the state root.
func TestInvalidIDs(t *testing.T) {
	h := newHarness(t)
	b := h.newBundle(h.newID(), []string{"true"})
	escape := "esc-" + h.prefix
	for _, id := range []string{"../" + escape, "a/b", "..", ".", "a b", "a\nb"} {
		_, errOut, code := h.run("create", "--bundle", b.Dir, id)
		expectError(t, errOut, code, "invalid container ID format")
	}
	_, errOut, code := h.run("create", "--bundle", b.Dir, "")
	if code != 1 || len(nonEmptyLines(errOut)) == 0 {
		t.Errorf("create with an empty ID: exit %d, stderr %q; want exit 1 and an error", code, errOut)
	}
	outside := filepath.Join(filepath.Dir(h.root), escape)
	if _, err := os.Lstat(outside); err == nil {
		os.RemoveAll(outside)
		t.Errorf("create ../%s made %s outside the state root", escape, outside)
	}
}

// TestNewRoot: a --root that does not exist yet lists no containers, and
// create makes it, private to root (0700).
func TestNewRoot(t *testing.T) {
	h := newHarness(t)
	root := filepath.Join(h.root, "sub", "root")
	out, errOut, code := h.runRaw("--root", root, "list", "-q")
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("list with a new root: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	if _, errOut, code := h.runRaw("--root", root, "create", "--bundle", b.Dir, id); code != 0 {
		t.Fatalf("create with a new root: exit %d: %s", code, errOut)
	}
	fi, err := os.Stat(root)
	if err != nil {
		t.Errorf("new root not created: %v", err)
	} else if fi.Mode().Perm() != 0o700 {
		t.Errorf("new root mode = %v, want 0700", fi.Mode().Perm())
	}
	if _, errOut, code := h.runRaw("--root", root, "delete", "--force", id); code != 0 {
		t.Errorf("delete: exit %d: %s", code, errOut)
	}
	if entries, err := os.ReadDir(root); err != nil || len(entries) != 0 {
		t.Errorf("new root after delete: %v entries (%v), want empty", len(entries), err)
	}
	if err := os.RemoveAll(filepath.Join(h.root, "sub")); err != nil {
		t.Fatal(err)
	}
}
