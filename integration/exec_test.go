//go:build linux

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// exRunning creates and starts a long-running container and returns its id
// and init pid. It is deleted (forcibly) when the test ends.
func exRunning(h *harness, opts ...bundle.Option) (string, int) {
	h.t.Helper()
	id := h.newID()
	b := h.newBundle(id, sleeper(id), opts...)
	h.create(id, b)
	h.t.Cleanup(func() { h.run("delete", "--force", id) })
	h.start(id)
	return id, h.state(id).Pid
}

// exExpectFailure checks a failed exec: exit 255 (a failure of the runtime
// itself, not of the process), exactly one error line, containing want.
func exExpectFailure(t *testing.T, stderr string, code int, want string) {
	t.Helper()
	if code != 255 {
		t.Errorf("exit code %d, want 255", code)
	}
	if lines := nonEmptyLines(stderr); len(lines) != 1 {
		t.Errorf("stderr has %d lines, want exactly 1 error line: %q", len(lines), stderr)
	}
	if msg := errorMessage(stderr); !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
}

// exStatusFields returns the named fields of a /proc/PID/status dump.
func exStatusFields(status string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// exHasCap reports whether the hex capability mask has capability bit.
func exHasCap(t *testing.T, mask string, bit uint) bool {
	t.Helper()
	v, err := strconv.ParseUint(mask, 16, 64)
	if err != nil {
		t.Fatalf("capability mask %q: %v", mask, err)
	}
	return v&(1<<bit) != 0
}

// exLinks parses `ls -l DIR` output into name -> link target, skipping
// entries whose link could not be read (ls's own directory descriptor).
func exLinks(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		left, target, ok := strings.Cut(l, " -> ")
		if !ok {
			continue
		}
		f := strings.Fields(left)
		if len(f) == 0 {
			continue
		}
		m[f[len(f)-1]] = strings.TrimSpace(target)
	}
	return m
}

// exSortedKeys returns the keys of m in order.
func exSortedKeys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// exHostFDs lists the descriptors of host process pid.
func exHostFDs(t *testing.T, pid int) []string {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("list fds of %d: %v", pid, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// exCgroupProcs lists the pids in the container's freezer cgroup.
func exCgroupProcs(t *testing.T, id string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cgroupRoot, "freezer", cgroupParent, id, "cgroup.procs"))
	if err != nil {
		t.Fatalf("read cgroup.procs of %s: %v", id, err)
	}
	return strings.Fields(string(data))
}

// exWaitGone polls until pid has exited (gone or a zombie).
func exWaitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || isZombie(string(stat)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive after %v", pid, waitTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exWriteProcess writes p as a process.json in a temp dir and returns its path.
func exWriteProcess(t *testing.T, p any) string {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestExecArgsAndFlags covers the command-line form of exec: argument parsing,
// --env, --user, --additional-gids, --cwd, --cap, --no-new-privs and the exit
// status, each observed from inside the exec'd process.
func TestExecArgsAndFlags(t *testing.T) {
	h := newHarness(t)
	id, _ := exRunning(h, bundle.WithSpec(func(s *specs.Spec) { s.Process.NoNewPrivileges = false }))

	// Flags stop at the first positional argument.
	if out := h.mustRun("exec", id, "sh", "-c", "echo -n x"); out != "x" {
		t.Errorf("exec sh -c 'echo -n x' printed %q, want %q", out, "x")
	}
	out := h.mustRun("exec", id, "ls", "-l", "/")
	if !strings.Contains(out, "linuxrc -> /bin/busybox") || !strings.Contains(out, "drwx") {
		t.Errorf("exec ls -l / did not print a long listing (-l not passed to ls?): %q", out)
	}

	// --env adds to the container's environment.
	out = h.mustRun("exec", "--env", "EX_ONE=1", "--env", "EX_TWO=two words", id, "sh", "-c", `echo "$EX_ONE|$EX_TWO|$TERM"`)
	if got := strings.TrimSpace(out); got != "1|two words|xterm" {
		t.Errorf("exec --env: got %q, want %q", got, "1|two words|xterm")
	}
	if out := h.mustRun("exec", "-e", "EX_SHORT=s", id, "sh", "-c", `echo "$EX_SHORT"`); strings.TrimSpace(out) != "s" {
		t.Errorf("exec -e EX_SHORT=s: got %q", out)
	}

	// --user uid:gid and --additional-gids.
	out = h.mustRun("exec", "-u", "1000:1001", "-g", "10", "-g", "20", id, "cat", "/proc/self/status")
	st := exStatusFields(out)
	if f := strings.Fields(st["Uid"]); len(f) != 4 || f[0] != "1000" || f[1] != "1000" {
		t.Errorf("exec -u 1000:1001: Uid %q", st["Uid"])
	}
	if f := strings.Fields(st["Gid"]); len(f) != 4 || f[0] != "1001" || f[1] != "1001" {
		t.Errorf("exec -u 1000:1001: Gid %q", st["Gid"])
	}
	if st["Groups"] != "10 20" {
		t.Errorf("exec -g 10 -g 20: Groups %q, want %q", st["Groups"], "10 20")
	}
	st = exStatusFields(h.mustRun("exec", "--user", "5:6", "--additional-gids", "30", "--additional-gids", "31", id, "cat", "/proc/self/status"))
	if st["Groups"] != "30 31" || !strings.HasPrefix(st["Uid"], "5\t") || !strings.HasPrefix(st["Gid"], "6\t") {
		t.Errorf("exec --user 5:6 --additional-gids 30 --additional-gids 31: Uid %q Gid %q Groups %q", st["Uid"], st["Gid"], st["Groups"])
	}
	// --user uid alone keeps the container's gid.
	out = h.mustRun("exec", "--user", "1002", id, "cat", "/proc/self/status")
	st = exStatusFields(out)
	if f := strings.Fields(st["Uid"]); len(f) != 4 || f[0] != "1002" {
		t.Errorf("exec --user 1002: Uid %q", st["Uid"])
	}
	if f := strings.Fields(st["Gid"]); len(f) != 4 || f[0] != "0" {
		t.Errorf("exec --user 1002: Gid %q, want the container's 0", st["Gid"])
	}

	// --cwd.
	if out := h.mustRun("exec", "--cwd", "/tmp", id, "pwd"); strings.TrimSpace(out) != "/tmp" {
		t.Errorf("exec --cwd /tmp: pwd printed %q", out)
	}
	if out := h.mustRun("exec", id, "pwd"); strings.TrimSpace(out) != "/" {
		t.Errorf("exec without --cwd: pwd printed %q, want the container's /", out)
	}

	// --cap: CAP_SYS_ADMIN (21) joins bounding, effective and permitted but
	// never inheritable; without the flag it is absent.
	const capSysAdmin = 21
	st = exStatusFields(h.mustRun("exec", id, "cat", "/proc/self/status"))
	for _, f := range []string{"CapBnd", "CapEff", "CapPrm", "CapInh"} {
		if exHasCap(t, st[f], capSysAdmin) {
			t.Errorf("exec without --cap: %s %s has CAP_SYS_ADMIN", f, st[f])
		}
	}
	if !exHasCap(t, st["CapBnd"], 5) { // CAP_KILL from the spec
		t.Errorf("exec: CapBnd %s lacks the spec's CAP_KILL", st["CapBnd"])
	}
	if st["NoNewPrivs"] != "0" {
		t.Errorf("exec without --no-new-privs (spec false): NoNewPrivs %q, want 0", st["NoNewPrivs"])
	}
	if st["Seccomp"] != "0" {
		t.Errorf("exec into a container without seccomp: Seccomp %q, want 0", st["Seccomp"])
	}
	st = exStatusFields(h.mustRun("exec", "-c", "CAP_NET_RAW", id, "cat", "/proc/self/status"))
	if !exHasCap(t, st["CapEff"], 13) || exHasCap(t, st["CapEff"], capSysAdmin) {
		t.Errorf("exec -c CAP_NET_RAW: CapEff %s, want CAP_NET_RAW and not CAP_SYS_ADMIN", st["CapEff"])
	}
	st = exStatusFields(h.mustRun("exec", "--cap", "CAP_SYS_ADMIN", "--cap", "CAP_NET_RAW", id, "cat", "/proc/self/status"))
	for _, f := range []string{"CapBnd", "CapEff", "CapPrm"} {
		if !exHasCap(t, st[f], capSysAdmin) || !exHasCap(t, st[f], 13) {
			t.Errorf("exec --cap CAP_SYS_ADMIN --cap CAP_NET_RAW: %s %s lacks one of them", f, st[f])
		}
		if !exHasCap(t, st[f], 5) {
			t.Errorf("exec --cap: %s %s lost the spec's CAP_KILL", f, st[f])
		}
	}
	if exHasCap(t, st["CapInh"], capSysAdmin) {
		t.Errorf("exec --cap: CapInh %s gained CAP_SYS_ADMIN", st["CapInh"])
	}

	// --no-new-privs.
	st = exStatusFields(h.mustRun("exec", "--no-new-privs", id, "cat", "/proc/self/status"))
	if st["NoNewPrivs"] != "1" {
		t.Errorf("exec --no-new-privs: NoNewPrivs %q, want 1", st["NoNewPrivs"])
	}

	// Exit status: the process's own, 128+N for a signal.
	for _, c := range []struct {
		script string
		code   int
	}{{"exit 7", 7}, {"exit 0", 0}, {"kill -TERM $$", 128 + 15}, {"kill -KILL $$", 128 + 9}, {"kill -USR1 $$", 128 + 10}} {
		if _, _, code := h.run("exec", id, "sh", "-c", c.script); code != c.code {
			t.Errorf("exec sh -c %q: exit %d, want %d", c.script, code, c.code)
		}
	}
	// Nothing the execs started is left in the container.
	if procs := exCgroupProcs(t, id); len(procs) > 2 {
		t.Errorf("container cgroup has %d processes after the execs returned: %v", len(procs), procs)
	}
}

// TestExecAdditionalGidsSingle checks that one --additional-gids/-g value
// gives exactly that one supplementary group (runc: "Groups: 30").
func TestExecAdditionalGidsSingle(t *testing.T) {
	h := newHarness(t)
	id, _ := exRunning(h)
	for _, flag := range []string{"-g", "--additional-gids"} {
		st := exStatusFields(h.mustRun("exec", "-u", "5:6", flag, "30", id, "cat", "/proc/self/status"))
		if st["Groups"] != "30" {
			t.Errorf("exec -u 5:6 %s 30: Groups %q, want %q", flag, st["Groups"], "30")
		}
	}
}

// TestExecJoinsContainer checks that the exec'd process is in every
// namespace and every cgroup of the container's init, and sees only fds 0-2.
func TestExecJoinsContainer(t *testing.T) {
	h := newHarness(t)
	id, pid := exRunning(h)

	inside := exLinks(h.mustRun("exec", id, "ls", "-l", "/proc/self/ns"))
	for _, want := range []string{"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"} {
		if _, ok := inside[want]; !ok {
			t.Errorf("exec: /proc/self/ns has no %s: %v", want, inside)
		}
	}
	for name, target := range inside {
		host, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, name))
		if err != nil {
			t.Errorf("read init's ns/%s: %v", name, err)
			continue
		}
		if host != target {
			t.Errorf("namespace %s: exec'd process has %s, container init has %s", name, target, host)
		}
	}
	self, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	if inside["pid"] == self {
		t.Errorf("exec'd process is in the host pid namespace %s", self)
	}

	out := h.mustRun("exec", id, "cat", "/proc/self/cgroup")
	hostCg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if out != string(hostCg) {
		t.Errorf("exec'd process cgroups:\n%s\ncontainer init's:\n%s", out, hostCg)
	}
	if !strings.Contains(out, "/"+cgroupParent+"/"+id) {
		t.Errorf("exec'd process is not in the container's cgroup %s: %s", id, out)
	}

	fds := exLinks(h.mustRun("exec", id, "ls", "-l", "/proc/self/fd"))
	if got := exSortedKeys(fds); strings.Join(got, " ") != "0 1 2" {
		t.Errorf("exec'd process has fds %v (%v), want only 0 1 2", got, fds)
	}
}

// TestExecSeccomp checks that an exec'd process gets the container's seccomp
// filter: mkdir is denied with EPERM inside, as the spec says.
func TestExecSeccomp(t *testing.T) {
	h := newHarness(t)
	eperm := uint(1)
	id, _ := exRunning(h, bundle.WithSpec(func(s *specs.Spec) {
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			Syscalls: []specs.LinuxSyscall{{
				Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &eperm,
			}},
		}
	}))
	out, errOut, code := h.run("exec", id, "sh", "-c",
		`grep -E '^Seccomp(_filters)?:' /proc/self/status; mkdir /dev/shm/ex-d && echo made || echo denied`)
	if code != 0 {
		t.Fatalf("exec: exit %d: %s", code, errOut)
	}
	st := exStatusFields(out)
	if st["Seccomp"] != "2" {
		t.Errorf("exec'd process: Seccomp %q, want 2 (filter mode)", st["Seccomp"])
	}
	if !strings.Contains(out, "denied") || strings.Contains(out, "made") {
		t.Errorf("mkdir in the exec'd process was not denied by the container's filter: %q", out)
	}
	if !strings.Contains(errOut, "Operation not permitted") {
		t.Errorf("mkdir error %q, want EPERM (the spec's errnoRet)", errOut)
	}
	// exec used the program create saved; a container created by an earlier husk has none, and its
	// exec'd processes get the filter compiled from the profile instead.
	saved := filepath.Join(h.root, id, "seccomp.bpf")
	if err := os.Remove(saved); err != nil {
		t.Fatalf("the compiled program create saves: %v", err)
	}
	out, errOut, code = h.run("exec", id, "sh", "-c", `mkdir /dev/shm/ex-d2 && echo made || echo denied`)
	if code != 0 || !strings.Contains(out, "denied") || !strings.Contains(errOut, "Operation not permitted") {
		t.Errorf("exec without a saved program: exit %d, %q, %q; want mkdir denied with EPERM", code, out, errOut)
	}
}

// TestExecProcessFile checks --process: the file is the whole process, not
// merged with the container's (env, cwd, user, capabilities and
// no_new_privs all come from the file only).
func TestExecProcessFile(t *testing.T) {
	h := newHarness(t)
	id, _ := exRunning(h)
	path := exWriteProcess(t, specs.Process{
		Args: []string{"/bin/sh", "-c", `env; pwd; cat /proc/self/status`},
		Env:  []string{"EX_FROM_FILE=yes"},
		Cwd:  "/etc",
		User: specs.User{UID: 1003, GID: 1004},
		Capabilities: &specs.LinuxCapabilities{
			Bounding: []string{"CAP_CHOWN"}, Effective: []string{"CAP_CHOWN"}, Permitted: []string{"CAP_CHOWN"},
		},
		NoNewPrivileges: false,
	})
	out := h.mustRun("exec", "--process", path, id)
	if !strings.Contains(out, "EX_FROM_FILE=yes") {
		t.Errorf("exec -p: env from the file missing: %q", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "TERM=") || strings.HasPrefix(l, "PATH=/usr/local/sbin") {
			t.Errorf("exec -p: container env %q merged into the process file's env", l)
		}
	}
	if !strings.Contains(out, "\n/etc\n") {
		t.Errorf("exec -p: cwd is not the file's /etc: %q", out)
	}
	st := exStatusFields(out)
	if f := strings.Fields(st["Uid"]); len(f) != 4 || f[0] != "1003" {
		t.Errorf("exec -p: Uid %q, want 1003", st["Uid"])
	}
	if f := strings.Fields(st["Gid"]); len(f) != 4 || f[0] != "1004" {
		t.Errorf("exec -p: Gid %q, want 1004", st["Gid"])
	}
	// Only CAP_CHOWN (bit 0): the container's CAP_KILL etc. are not merged in.
	if st["CapBnd"] != "0000000000000001" {
		t.Errorf("exec -p: CapBnd %s, want only CAP_CHOWN (0000000000000001)", st["CapBnd"])
	}
	if st["NoNewPrivs"] != "0" {
		t.Errorf("exec -p with noNewPrivileges false (container has true): NoNewPrivs %q", st["NoNewPrivs"])
	}

	// -p with a command line: the short flag and the same file.
	if out := h.mustRun("exec", "-p", path, id); !strings.Contains(out, "EX_FROM_FILE=yes") {
		t.Errorf("exec -p (short flag): %q", out)
	}
}

// TestExecDetach checks `exec --detach --pid-file`: it returns while the
// process runs, writes its host pid, and leaves it to the caller.
func TestExecDetach(t *testing.T) {
	h := newHarness(t)
	id, initPid := exRunning(h)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	marker := "exdetach-" + id
	h.mustRun("exec", "--detach", "--pid-file", pidFile, id, "sh", "-c", "while :; do sleep 1; done", marker)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file holds %q", data)
	}
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGKILL)
		exWaitGone(t, pid)
	})
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), marker) {
		t.Fatalf("pid %d from the pid file is not the exec'd process (cmdline %q, %v)", pid, cmdline, err)
	}
	for _, ns := range []string{"pid", "mnt", "net", "uts", "ipc"} {
		a, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		b, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", initPid, ns))
		if a == "" || a != b {
			t.Errorf("detached exec: ns %s is %q, init's is %q", ns, a, b)
		}
	}
	found := false
	for _, p := range exCgroupProcs(t, id) {
		if p == strconv.Itoa(pid) {
			found = true
		}
	}
	if !found {
		t.Errorf("detached exec process %d is not in the container's cgroup", pid)
	}
	// -d with the short flag and a second process; both are killed via their pids.
	pidFile2 := filepath.Join(t.TempDir(), "exec2.pid")
	h.mustRun("exec", "-d", "--pid-file", pidFile2, id, "sleep", "1000")
	data, err = os.ReadFile(pidFile2)
	if err != nil {
		t.Fatalf("pid file of exec -d: %v", err)
	}
	pid2, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid2 <= 0 {
		t.Fatalf("pid file of exec -d holds %q", data)
	}
	if err := syscall.Kill(pid2, syscall.SIGKILL); err != nil {
		t.Errorf("kill exec -d process %d: %v", pid2, err)
	}
	exWaitGone(t, pid2)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Errorf("kill detached process %d: %v", pid, err)
	}
	exWaitGone(t, pid)
	if st := h.state(id); st.Status != "running" {
		t.Errorf("container status %q after killing the exec'd processes", st.Status)
	}
}

// exFreeze freezes the container's freezer cgroup (as `pause` would) and
// thaws it when the test ends.
func exFreeze(t *testing.T, id string) string {
	t.Helper()
	state := filepath.Join(cgroupRoot, "freezer", cgroupParent, id, "freezer.state")
	if err := os.WriteFile(state, []byte("FROZEN"), 0o644); err != nil {
		t.Fatalf("freeze %s: %v", id, err)
	}
	t.Cleanup(func() { os.WriteFile(state, []byte("THAWED"), 0o644) })
	return state
}

// TestExecIgnorePaused: exec into a paused container fails with runc's
// message; with --ignore-paused it goes ahead (the process joins the frozen
// cgroup and runs once the container is thawed).
func TestExecIgnorePaused(t *testing.T) {
	h := newHarness(t)
	id, _ := exRunning(h)
	state := exFreeze(t, id)
	h.waitStatus(id, "paused")
	before := exCgroupProcs(t, id)

	_, errOut, code := h.run("exec", id, "true")
	exExpectFailure(t, errOut, code, "cannot exec in a paused container (use --ignore-paused to override)")

	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	type result struct {
		out, errOut string
		code        int
		err         error
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code, err := h.invoke("--root", h.root, "exec", "--ignore-paused", "-d", "--pid-file", pidFile,
			id, "sh", "-c", "echo thawed > /dev/shm/ex-ignore-paused; exec sleep 1000", id)
		done <- result{out, errOut, code, err}
	}()
	// The exec got past the paused check once a new process sits in the
	// (frozen) container cgroup; only then is the container thawed.
	deadline := time.Now().Add(waitTimeout)
	for len(exCgroupProcs(t, id)) <= len(before) {
		select {
		case r := <-done:
			t.Fatalf("exec --ignore-paused returned before thaw: exit %d: %s %v", r.code, r.errOut, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("exec --ignore-paused never put a process into the paused container")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(state, []byte("THAWED"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.code != 0 {
		t.Fatalf("exec --ignore-paused: exit %d: %s", r.code, r.errOut)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file holds %q", data)
	}
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGKILL)
		exWaitGone(t, pid)
	})
	if out := h.mustRun("exec", id, "sh", "-c", "while [ ! -e /dev/shm/ex-ignore-paused ]; do sleep 0.1; done; cat /dev/shm/ex-ignore-paused"); strings.TrimSpace(out) != "thawed" {
		t.Errorf("the --ignore-paused process did not run after thaw: %q", out)
	}
}

// TestExecBadInput: each bad exec fails with exit 255 and one runc-style
// error, leaves nothing running and no descriptor in the container.
func TestExecBadInput(t *testing.T) {
	h := newHarness(t)
	id, initPid := exRunning(h)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notSocket := write("not-a-socket", "")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"nonexistent", []string{"exec", id + "-nope", "true"}, "container does not exist"},
		{"invalid-json", []string{"exec", "-p", write("bad.json", "{not json"), id}, "invalid character"},
		{"relative-cwd", []string{"exec", "-p", write("rel.json", `{"args":["/bin/true"],"cwd":"tmp"}`), id}, "must be an absolute path"},
		{"missing-binary-file", []string{"exec", "-p", write("nope.json", `{"args":["/nope"],"cwd":"/"}`), id},
			`exec: "/nope": stat /nope: no such file or directory`},
		{"missing-binary-args", []string{"exec", id, "/nope"}, `exec: "/nope": stat /nope: no such file or directory`},
		{"not-in-path", []string{"exec", id, "no-such-cmd"}, `exec: "no-such-cmd": executable file not found in $PATH`},
		{"binary-is-dir", []string{"exec", id, "/etc"}, `exec: "/etc": is a directory`},
		{"binary-not-executable", []string{"exec", id, "/etc/passwd"}, `exec: "/etc/passwd": permission denied`},
		{"cwd-is-file", []string{"exec", "--cwd", "/etc/passwd", id, "true"}, `chdir to cwd ("/etc/passwd") set in config.json failed: not a directory`},
		{"rlimit-above-hard", []string{"exec", "-p", write("rl.json", `{"args":["true"],"cwd":"/","env":["PATH=/bin"],"rlimits":[{"type":"RLIMIT_NOFILE","soft":1024,"hard":100000000}]}`), id},
			"set RLIMIT_NOFILE to soft 1024, hard 100000000: operation not permitted"},
		{"unknown-cap", []string{"exec", "--cap", "CAP_NOT_A_CAP", id, "true"}, "CAP_NOT_A_CAP"},
		{"console-not-socket", []string{"exec", "-d", "-t", "--console-socket", notSocket, id, "true"}, notSocket},
		{"no-args", []string{"exec", id}, ""},
	}
	fdsBefore := exHostFDs(t, initPid)
	procsBefore := exCgroupProcs(t, id)
	for _, c := range cases {
		_, errOut, code := h.run(c.args...)
		t.Run(c.name, func(t *testing.T) {
			if c.name == "no-args" {
				if code == 0 || len(nonEmptyLines(errOut)) == 0 {
					t.Errorf("exec with no command: exit %d, stderr %q", code, errOut)
				}
				return
			}
			exExpectFailure(t, errOut, code, c.want)
		})
	}
	if got := exHostFDs(t, initPid); strings.Join(got, " ") != strings.Join(fdsBefore, " ") {
		t.Errorf("container init fds changed by failed execs: %v -> %v", fdsBefore, got)
	}
	if got := exCgroupProcs(t, id); len(got) > len(procsBefore)+1 {
		// +1: the container's own loop may be between two sleeps.
		t.Errorf("failed execs left processes in the container: %v -> %v", procsBefore, got)
	}
	fds := exLinks(h.mustRun("exec", id, "ls", "-l", "/proc/self/fd"))
	if keys := strings.Join(exSortedKeys(fds), " "); keys != "0 1 2" {
		t.Errorf("after failed execs a new exec has fds %s (%v), want 0 1 2", keys, fds)
	}
	if st := h.state(id); st.Status != "running" {
		t.Errorf("container status after failed execs: %q", st.Status)
	}

	// A stopped container.
	sid := h.newID()
	b := h.newBundle(sid, []string{"sh", "-c", "exit 0", sid})
	h.create(sid, b)
	h.start(sid)
	h.waitStatus(sid, "stopped")
	_, errOut, code := h.run("exec", sid, "true")
	exExpectFailure(t, errOut, code, "cannot exec in a stopped container")
	h.mustRun("delete", sid)
}

// TestExecInitChoice: a plain exec is set up by nsenter's C code (no Go runtime in the container); a
// process that needs the Go init (here an I/O priority) gets it, and HUSK_EXEC_INIT=go forces it.
// Both give the same process: the exec tests run under both (make integration runs them again with
// HUSK_EXEC_INIT=go).
func TestExecInitChoice(t *testing.T) {
	h := newHarness(t)
	id, _ := exRunning(h)
	check := func(want string, args ...string) {
		t.Helper()
		out, errOut, code := h.run(append([]string{"--debug", "exec"}, args...)...)
		if code != 0 || strings.TrimSpace(out) != "ok" {
			t.Fatalf("exec %v: exit %d, stdout %q, stderr %s", args, code, out, errOut)
		}
		if !strings.Contains(errOut, "set up by the "+want+" init") {
			t.Errorf("exec %v: the debug log does not say the %s init set the process up:\n%s", args, want, errOut)
		}
	}
	if os.Getenv("HUSK_EXEC_INIT") == "" {
		check("C", id, "echo", "ok")
	}
	path := exWriteProcess(t, specs.Process{
		Args: []string{"echo", "ok"}, Env: []string{"PATH=/bin"}, Cwd: "/",
		IOPriority: &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 4},
	})
	check("Go", "--process", path, id)
	t.Setenv("HUSK_EXEC_INIT", "go")
	check("Go", id, "echo", "ok")
}

// TestExecUserAndTimeNamespaces: an exec'd process joins the container's user namespace (as the
// process's uid inside it, host uid 100000+N outside) and its time namespace (the boottime offset).
func TestExecUserAndTimeNamespaces(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := userTimeBundle(h, id, sleeper(id))
	h.create(id, b)
	t.Cleanup(func() { h.run("delete", "--force", id) })
	h.start(id)
	pid := h.state(id).Pid
	out := h.mustRun("exec", "-u", "1000:1000", id, "sh", "-c", `echo "uptime=$(cut -d' ' -f1 /proc/uptime)"; echo "uid=$(id -u)"; grep -E '^(Uid|CapEff):' /proc/self/status; readlink /proc/self/ns/user; readlink /proc/self/ns/time`)
	f := spFields(out)
	if f["uid"] != "1000" {
		t.Errorf("id -u in the exec'd process = %q, want 1000:\n%s", f["uid"], out)
	}
	if in, err := strconv.ParseFloat(f["uptime"], 64); err != nil || in < hostUptime(t)+9*86400 {
		t.Errorf("uptime in the exec'd process %q: the container's boottime offset is missing", f["uptime"])
	}
	for _, ns := range []string{"user", "time"} {
		want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, want) {
			t.Errorf("exec'd process is not in the container's %s namespace %s:\n%s", ns, want, out)
		}
	}
}
