//go:build linux

package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/bundle"
)

// withSeccomp sets linux.seccomp.
func withSeccomp(sc *specs.LinuxSeccomp) bundle.Option {
	return bundle.WithSpec(func(s *specs.Spec) { s.Linux.Seccomp = sc })
}

// allowAllBut is a profile that allows everything except rules.
func allowAllBut(rules ...specs.LinuxSyscall) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: rules}
}

func errnoRet(v uint) *uint { return &v }

// newSeccompHarness is newHarness for tests whose containers use seccomp:
// husk keeps compiled filters in <root>/.seccomp-cache on purpose (a cache
// that outlives containers), which the leak check would take for a leaked
// state directory. It is removed before the leak check runs.
func newSeccompHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	t.Cleanup(func() {
		if err := os.RemoveAll(filepath.Join(h.root, ".seccomp-cache")); err != nil {
			t.Errorf("remove seccomp cache: %v", err)
		}
	})
	return h
}

// TestSeccompDefaultProfile runs a busybox workload under the fixture's
// docker-like default profile: it works, and the kernel reports a filter.
func TestSeccompDefaultProfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "tests", "fixtures", "seccomp", "default.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sc specs.LinuxSeccomp
	if err := json.Unmarshal(data, &sc); err != nil {
		t.Fatalf("decode default profile: %v", err)
	}
	h := newSeccompHarness(t)
	script := `echo "seccomp=$(grep '^Seccomp:' /proc/self/status | cut -f2)"
mkdir /dev/shm/d && echo "mkdir=ok"
echo hello > /dev/shm/d/f && echo "read=$(cat /dev/shm/d/f)"
echo "ps=$(ps -o pid,comm | grep -c ps)"
echo "id=$(id -u)"; echo "host=$(hostname)"; echo "ls=$(ls / | grep -cx bin)"
sleep 0 && echo "sleep=ok"`
	out := spOut(t, h, script, withSeccomp(&sc))
	f := spFields(out)
	want := map[string]string{"seccomp": "2", "mkdir": "ok", "read": "hello", "id": "0", "host": bundle.DefaultHostname, "ls": "1", "sleep": "ok"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q (output %q)", k, f[k], v, out)
		}
	}
	if f["ps"] == "" || f["ps"] == "0" {
		t.Errorf("ps under the default profile printed nothing: %q", out)
	}
}

// TestSeccompErrno: an ERRNO rule returns its errnoRet; the default errno of
// ERRNO is EPERM.
func TestSeccompErrno(t *testing.T) {
	cases := []struct {
		name string
		ret  *uint
		want string
	}{
		{"eacces", errnoRet(uint(unix.EACCES)), "Permission denied"},
		{"enospc", errnoRet(uint(unix.ENOSPC)), "No space left on device"},
		{"default-eperm", nil, "Operation not permitted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newSeccompHarness(t)
			out := spOut(t, h, `mkdir /dev/shm/d 2>&1; echo "exists=$(test -d /dev/shm/d && echo yes || echo no)"; echo "seccomp=$(grep '^Seccomp:' /proc/self/status | cut -f2)"`,
				withSeccomp(allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: c.ret})))
			if !strings.Contains(out, "can't create directory '/dev/shm/d': "+c.want) {
				t.Errorf("mkdir output %q, want the error %q", out, c.want)
			}
			f := spFields(out)
			if f["exists"] != "no" || f["seccomp"] != "2" {
				t.Errorf("directory exists %q, Seccomp %q; want no, 2", f["exists"], f["seccomp"])
			}
		})
	}
}

// TestSeccompKill: KILL and KILL_PROCESS kill the container's process, and
// `run` reports death by SIGSYS (128+31).
func TestSeccompKill(t *testing.T) {
	for _, act := range []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillProcess} {
		t.Run(string(act), func(t *testing.T) {
			h := newSeccompHarness(t)
			id := h.newID()
			b := h.newBundle(id, []string{"mkdir", "/dev/shm/" + id},
				withSeccomp(allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: act})))
			_, errOut, code := h.run("run", "--bundle", b.Dir, id)
			if code != 128+int(unix.SIGSYS) {
				t.Errorf("run exit code %d, want %d (SIGSYS); stderr %q", code, 128+int(unix.SIGSYS), errOut)
			}
		})
	}
}

// TestSeccompArgs: a rule with an argument condition matches only that
// argument: personality(PER_LINUX32) fails, personality(PER_LINUX) works.
func TestSeccompArgs(t *testing.T) {
	cases := []struct {
		name string
		arg  specs.LinuxSeccompArg
	}{
		{"eq", specs.LinuxSeccompArg{Index: 0, Value: 0x8, Op: specs.OpEqualTo}},
		{"masked-eq", specs.LinuxSeccompArg{Index: 0, Value: 0xff, ValueTwo: 0x8, Op: specs.OpMaskedEqual}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newSeccompHarness(t)
			out := spOut(t, h, `echo "l32=$(linux32 uname -m 2>&1)"; echo "l64=$(linux64 uname -m 2>&1)"`,
				withSeccomp(allowAllBut(specs.LinuxSyscall{
					Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: errnoRet(uint(unix.EPERM)),
					Args: []specs.LinuxSeccompArg{c.arg},
				})))
			f := spFields(out)
			if !strings.Contains(f["l32"], "Operation not permitted") {
				t.Errorf("linux32 (personality 0x8) printed %q, want it denied", f["l32"])
			}
			if f["l64"] != "x86_64" {
				t.Errorf("linux64 (personality 0) printed %q, want x86_64", f["l64"])
			}
		})
	}
}

// TestSeccompKillGetpid: a profile that kills getpid must either start the
// container (and the workload dies when it calls getpid) or fail create
// cleanly; it must not hang (the harness times out a hung command).
func TestSeccompKillGetpid(t *testing.T) {
	h := newSeccompHarness(t)
	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", `echo "before"; echo "pid=$$"`, id},
		withSeccomp(allowAllBut(specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActKill})))
	out, errOut, code := h.run("run", "--bundle", b.Dir, id)
	switch {
	case code == 1 && len(nonEmptyLines(errOut)) == 1:
		// create refused: fine, nothing is left (the leak check verifies).
	case code == 128+int(unix.SIGSYS):
		if strings.Contains(out, "pid=") {
			t.Errorf("getpid was not killed: %q", out)
		}
	default:
		t.Errorf("run with getpid killed: exit %d, stderr %q; want a clean failure or death by SIGSYS", code, errOut)
	}
	_, errOut, code = h.run("state", id)
	expectError(t, errOut, code, "container does not exist")
}

// TestSeccompBadProfile: an unknown action, syscall, architecture or
// operator, or a missing listener socket, fails create with one line, exit
// 1, and nothing left behind.
func TestSeccompBadProfile(t *testing.T) {
	cases := []struct {
		name string
		sc   *specs.LinuxSeccomp
		want string
	}{
		{"action", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}, "SCMP_ACT_BOGUS"},
		{"rule-action", allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir"}, Action: "SCMP_ACT_NOPE"}), "SCMP_ACT_NOPE"},
		{"syscall", allowAllBut(specs.LinuxSyscall{Names: []string{"no_such_syscall"}, Action: specs.ActErrno}), "no_such_syscall"},
		{"arch", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_BOGUS"}}, "SCMP_ARCH_BOGUS"},
		{"operator", allowAllBut(specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: "SCMP_CMP_BOGUS"}}}), "SCMP_CMP_BOGUS"},
		{"listener", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/nonexistent/husk-it.sock",
			Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}}, "/nonexistent/husk-it.sock"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newSeccompHarness(t)
			id := h.newID()
			b := h.newBundle(id, sleeper(id), withSeccomp(c.sc))
			_, errOut, code := h.run("create", "--bundle", b.Dir, id)
			expectError(t, errOut, code, c.want)
			_, errOut, code = h.run("state", id)
			expectError(t, errOut, code, "container does not exist")
		})
	}
}

// TestSeccompNotify serves the listener socket: the agent answers mkdir
// notifications with success without creating anything, so `mkdir` in the
// container succeeds while the directory does not exist.
func TestSeccompNotify(t *testing.T) {
	h := newSeccompHarness(t)
	dir := t.TempDir()
	agent := filepath.Join(dir, "seccompagent")
	if out, err := exec.Command("go", "build", "-o", agent, filepath.Join(repoRoot, "tests", "seccompagent")).CombinedOutput(); err != nil {
		t.Fatalf("build tests/seccompagent: %v: %s", err, out)
	}
	sock, report := filepath.Join(dir, "agent.sock"), filepath.Join(dir, "report.json")
	cmd := exec.Command(agent, "-socket", sock, "-report", report)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	// The agent renames its socket into place once it listens.
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 1000 {
			t.Fatal("seccompagent did not start listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", `mkdir /dev/shm/x && echo "mkdir=ok"; echo "exists=$(test -d /dev/shm/x && echo yes || echo no)"`, id},
		withSeccomp(&specs.LinuxSeccomp{
			DefaultAction:    specs.ActAllow,
			ListenerPath:     sock,
			ListenerMetadata: "it-metadata",
			Syscalls:         []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActNotify}},
		}))
	out, errOut, code := h.run("run", "--bundle", b.Dir, id)
	if code != 0 {
		t.Fatalf("run: exit %d, stderr %q", code, errOut)
	}
	// The agent exits once no process uses the filter any more.
	if err := cmd.Wait(); err != nil {
		t.Fatalf("seccompagent: %v", err)
	}
	var r struct {
		State    *specs.ContainerProcessState `json:"state"`
		Notified int                          `json:"notified"`
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("agent report %q: %v", data, err)
	}
	f := spFields(out)
	if f["mkdir"] != "ok" || f["exists"] != "no" {
		t.Errorf("mkdir = %q, directory exists = %q; want ok, no (the agent faked it)", f["mkdir"], f["exists"])
	}
	if r.Notified == 0 {
		t.Errorf("the agent got no notification")
	}
	if r.State == nil {
		t.Fatal("the agent got no process state")
	}
	if r.State.State.ID != id || r.State.Metadata != "it-metadata" || r.State.State.Pid <= 0 {
		t.Errorf("process state sent to the agent: id %q metadata %q pid %d; want %s, it-metadata, a pid",
			r.State.State.ID, r.State.Metadata, r.State.State.Pid, id)
	}
	if len(r.State.Fds) != 1 || r.State.Fds[0] != specs.SeccompFdName {
		t.Errorf("process state fds = %v, want [%s]", r.State.Fds, specs.SeccompFdName)
	}
}
