//go:build linux

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// hookLogScript appends "KIND|MNTNS|UTSNS|STATE-JSON" to the log named by
// its second argument; the first argument is the hook kind.
const hookLogScript = `#!/bin/sh
state=$(cat)
echo "$1|$(readlink /proc/self/ns/mnt)|$(readlink /proc/self/ns/uts)|$state" >> "$2"
`

// hookEnv is every hook's environment (hooks do not inherit the runtime's).
var hookEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// hookRecord is one line of the hook log.
type hookRecord struct {
	kind, mnt, uts string
	state          specs.State
	raw            string
}

// hookSetup is a bundle whose hooks all log to one host file.
type hookSetup struct {
	id     string
	b      *bundle.Bundle
	log    string // host path of the log
	script string // host path of the logging hook
}

// newHookSetup builds a bundle for a sleeping container with the log
// directory bind-mounted at /hooklog and opts applied last.
func newHookSetup(t *testing.T, h *harness, args []string, opts ...bundle.Option) *hookSetup {
	t.Helper()
	logDir := t.TempDir()
	hs := &hookSetup{id: h.newID(), log: filepath.Join(logDir, "log"), script: filepath.Join(t.TempDir(), "hook.sh")}
	if err := os.WriteFile(hs.script, []byte(hookLogScript), 0o755); err != nil {
		t.Fatal(err)
	}
	if args == nil {
		args = sleeper(hs.id)
	}
	all := append([]bundle.Option{bundle.WithSpec(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hooklog", Type: "bind", Source: logDir, Options: []string{"rbind", "rw"}})
		s.Annotations = map[string]string{"it.hooks": "yes"}
	})}, opts...)
	hs.b = h.newBundle(hs.id, args, all...)
	if err := os.Mkdir(filepath.Join(hs.b.Rootfs, "hooklog"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, hs.b, "hook.sh", hookLogScript, 0o755)
	return hs
}

// hook returns a hook that logs kind through the host script.
func (hs *hookSetup) hook(kind string) specs.Hook {
	return specs.Hook{Path: hs.script, Args: []string{"hook.sh", kind, hs.log}, Env: hookEnv}
}

// failing returns a host hook that exits with status 3 after printing.
func failingHook(t *testing.T) specs.Hook {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fail.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho hook-said-no >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return specs.Hook{Path: p, Args: []string{"fail.sh"}, Env: hookEnv}
}

func readHookLog(t *testing.T, path string) []hookRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var recs []hookRecord
	for _, l := range nonEmptyLines(string(data)) {
		parts := strings.SplitN(l, "|", 4)
		if len(parts) != 4 {
			t.Errorf("bad hook log line %q", l)
			continue
		}
		r := hookRecord{kind: parts[0], mnt: parts[1], uts: parts[2], raw: parts[3]}
		if parts[3] != "" {
			if err := json.Unmarshal([]byte(parts[3]), &r.state); err != nil {
				t.Errorf("hook %s: state on stdin is not JSON: %v: %q", r.kind, err, parts[3])
			}
		}
		recs = append(recs, r)
	}
	return recs
}

// TestHooksAllKinds runs all six hook kinds and checks their order, the
// state each gets on stdin, and the namespaces each runs in.
func TestHooksAllKinds(t *testing.T) {
	h := newHarness(t)
	script := `echo "container|$(readlink /proc/self/ns/mnt)|$(readlink /proc/self/ns/uts)|" >> /hooklog/log; while :; do sleep 1; done`
	hs := newHookSetup(t, h, nil)
	hs.b.Update(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script, hs.id}
		s.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{hs.hook("prestart")}, //nolint:staticcheck // deprecated, still run
			CreateRuntime:   []specs.Hook{hs.hook("createRuntime")},
			CreateContainer: []specs.Hook{hs.hook("createContainer")},
			// startContainer's path resolves inside the container.
			StartContainer: []specs.Hook{{Path: "/hook.sh", Args: []string{"hook.sh", "startContainer", "/hooklog/log"}, Env: []string{"PATH=/bin"}}},
			Poststart:      []specs.Hook{hs.hook("poststart")},
			Poststop:       []specs.Hook{hs.hook("poststop")},
		}
	})
	h.create(hs.id, hs.b)
	t.Cleanup(func() { h.run("delete", "--force", hs.id) })
	pid := h.state(hs.id).Pid
	ctrMnt := hostNS(t, strconv.Itoa(pid), "mnt")
	ctrUts := hostNS(t, strconv.Itoa(pid), "uts")
	hostMnt, hostUts := hostNS(t, "self", "mnt"), hostNS(t, "self", "uts")
	if recs := readHookLog(t, hs.log); len(recs) != 3 {
		t.Errorf("after create, %d hooks logged, want prestart, createRuntime, createContainer: %v", len(recs), recs)
	}
	h.start(hs.id)
	h.mustRun("kill", hs.id, "KILL")
	h.waitStatus(hs.id, "stopped")
	h.mustRun("delete", hs.id)

	recs := readHookLog(t, hs.log)
	pos := map[string]int{}
	for i, r := range recs {
		if _, dup := pos[r.kind]; dup {
			t.Errorf("%s logged twice", r.kind)
		}
		pos[r.kind] = i
	}
	want := []struct {
		kind, status string
		inContainer  bool
	}{
		{"prestart", "creating", false},
		{"createRuntime", "creating", false},
		{"createContainer", "creating", true},
		{"startContainer", "created", true},
		{"poststart", "running", false},
		{"poststop", "stopped", false},
	}
	for _, w := range want {
		i, ok := pos[w.kind]
		if !ok {
			t.Errorf("%s hook did not run (log: %v)", w.kind, recs)
			continue
		}
		r := recs[i]
		st := r.state
		if st.ID != hs.id || st.Bundle != hs.b.Dir || st.Status != specs.ContainerState(w.status) || st.Annotations["it.hooks"] != "yes" {
			t.Errorf("%s hook state: id %q bundle %q status %q annotations %v; want %s %s %s it.hooks=yes",
				w.kind, st.ID, st.Bundle, st.Status, st.Annotations, hs.id, hs.b.Dir, w.status)
		}
		if w.kind != "poststop" && st.Pid != pid {
			t.Errorf("%s hook state pid %d, want %d", w.kind, st.Pid, pid)
		}
		wantMnt, wantUts := hostMnt, hostUts
		if w.inContainer {
			wantMnt, wantUts = ctrMnt, ctrUts
		}
		if r.mnt != wantMnt || r.uts != wantUts {
			t.Errorf("%s hook ran in mnt %s uts %s, want mnt %s uts %s (container: %v)", w.kind, r.mnt, r.uts, wantMnt, wantUts, w.inContainer)
		}
	}
	// Order: the create-time hooks in spec order, then startContainer before
	// the user process, poststart after create, poststop last.
	order := [][2]string{
		{"prestart", "createRuntime"}, {"createRuntime", "createContainer"},
		{"createContainer", "startContainer"}, {"startContainer", "container"},
		{"createContainer", "poststart"}, {"poststart", "poststop"}, {"container", "poststop"},
	}
	for _, o := range order {
		a, okA := pos[o[0]]
		b, okB := pos[o[1]]
		if okA && okB && a > b {
			t.Errorf("%s ran after %s (log: %v)", o[0], o[1], recs)
		}
	}
	if c, ok := pos["container"]; !ok {
		t.Errorf("the container process did not log")
	} else if recs[c].mnt != ctrMnt {
		t.Errorf("container process mnt %s, want %s", recs[c].mnt, ctrMnt)
	}
}

// TestHookTimeout: a createRuntime hook that sleeps past its timeout is
// killed and create fails with "timeout", leaving nothing behind.
func TestHookTimeout(t *testing.T) {
	h := newHarness(t)
	p := filepath.Join(t.TempDir(), "slow.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	timeout := 1
	id := h.newID()
	b := h.newBundle(id, sleeper(id), bundle.WithSpec(func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: p, Args: []string{"slow.sh", id}, Env: hookEnv, Timeout: &timeout}}}
	}))
	_, errOut, code := h.run("create", "--bundle", b.Dir, id)
	expectError(t, errOut, code, "timeout")
	_, errOut, code = h.run("state", id)
	expectError(t, errOut, code, "container does not exist")
}

// TestHookFailsCreate: a failing prestart, createRuntime or createContainer
// hook fails create with one error line (quoting the hook's stderr) and
// leaves no container behind.
func TestHookFailsCreate(t *testing.T) {
	for _, kind := range []string{"prestart", "createRuntime", "createContainer"} {
		t.Run(kind, func(t *testing.T) {
			h := newHarness(t)
			hs := newHookSetup(t, h, nil)
			fail := failingHook(t)
			hs.b.Update(t, func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{Poststop: []specs.Hook{hs.hook("poststop")}}
				switch kind {
				case "prestart":
					s.Hooks.Prestart = []specs.Hook{fail} //nolint:staticcheck // deprecated, still run
				case "createRuntime":
					s.Hooks.CreateRuntime = []specs.Hook{fail}
				case "createContainer":
					s.Hooks.CreateContainer = []specs.Hook{fail}
				}
			})
			_, errOut, code := h.run("create", "--bundle", hs.b.Dir, hs.id)
			expectError(t, errOut, code, kind)
			if msg := errorMessage(errOut); !strings.Contains(msg, "hook-said-no") && !strings.Contains(msg, "exit status 3") {
				t.Errorf("error %q names neither the hook's exit status nor its stderr", msg)
			}
			_, errOut, code = h.run("state", hs.id)
			expectError(t, errOut, code, "container does not exist")
		})
	}
}

// TestHookStartContainerFails: a failing startContainer hook fails `start`
// and leaves the container stopped (the user process never runs).
func TestHookStartContainerFails(t *testing.T) {
	h := newHarness(t)
	hs := newHookSetup(t, h, nil)
	hs.b.Update(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", `echo ran >> /hooklog/log; while :; do sleep 1; done`, hs.id}
		s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/false", Args: []string{"false"}}}}
	})
	h.create(hs.id, hs.b)
	t.Cleanup(func() { h.run("delete", "--force", hs.id) })
	_, errOut, code := h.run("start", hs.id)
	if code == 0 {
		t.Errorf("start with a failing startContainer hook exited 0 (stderr %q)", errOut)
	}
	h.waitStatus(hs.id, "stopped")
	if data, _ := os.ReadFile(hs.log); strings.Contains(string(data), "ran") {
		t.Errorf("the user process ran despite the failing startContainer hook")
	}
	h.mustRun("delete", hs.id)
}

// TestHookPoststartFails: a failing poststart hook is only a warning; the
// remaining poststart hooks run and the container keeps running.
func TestHookPoststartFails(t *testing.T) {
	h := newHarness(t)
	hs := newHookSetup(t, h, nil)
	fail := failingHook(t)
	hs.b.Update(t, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{Poststart: []specs.Hook{fail, hs.hook("poststart-after")}}
	})
	h.create(hs.id, hs.b)
	t.Cleanup(func() { h.run("delete", "--force", hs.id) })
	_, errOut, code := h.run("start", hs.id)
	if code != 0 {
		t.Errorf("start with a failing poststart hook: exit %d, want 0 (stderr %q)", code, errOut)
	}
	if st := h.state(hs.id); st.Status != "running" {
		t.Errorf("status after a failing poststart hook = %q, want running", st.Status)
	}
	recs := readHookLog(t, hs.log)
	if len(recs) != 1 || recs[0].kind != "poststart-after" {
		t.Errorf("hooks after the failing poststart hook: %v, want poststart-after to run", recs)
	}
	h.mustRun("delete", "--force", hs.id)
}

// TestHookPoststopFails: a failing poststop hook is a warning; delete still
// succeeds and removes everything (the leak check verifies it), and later
// poststop hooks still run.
func TestHookPoststopFails(t *testing.T) {
	h := newHarness(t)
	hs := newHookSetup(t, h, nil)
	fail := failingHook(t)
	hs.b.Update(t, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{Poststop: []specs.Hook{fail, hs.hook("poststop-after")}}
	})
	h.create(hs.id, hs.b)
	h.start(hs.id)
	h.mustRun("kill", hs.id, "KILL")
	h.waitStatus(hs.id, "stopped")
	_, errOut, code := h.run("delete", hs.id)
	if code != 0 {
		t.Errorf("delete with a failing poststop hook: exit %d, want 0 (stderr %q)", code, errOut)
	}
	_, errOut, code = h.run("state", hs.id)
	expectError(t, errOut, code, "container does not exist")
	recs := readHookLog(t, hs.log)
	if len(recs) != 1 || recs[0].kind != "poststop-after" {
		t.Errorf("hooks after the failing poststop hook: %v, want poststop-after to run", recs)
	}
}
