//go:build linux

package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/bundle"
)

// spProcess changes the spec's process.
func spProcess(fn func(p *specs.Process)) bundle.Option {
	return bundle.WithSpec(func(s *specs.Spec) { fn(s.Process) })
}

// TestProcessArgsEnvCwd checks that args reach the process verbatim, env is
// the spec's (sh adds PWD, SHLVL and _; runc adds HOME when it is missing),
// and cwd is the spec's.
func TestProcessArgsEnvCwd(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := `echo "argc=$#"; echo "a1=$1"; echo "a2=$2"; echo "foo=$FOO"; echo "cwd=$(pwd)"; echo "envn=$(env | grep -vc '^PWD=\|^SHLVL=\|^_=\|^HOME=')"`
	b := h.newBundle(id, []string{"sh", "-c", script, id, "one two", "  three"}, spProcess(func(p *specs.Process) {
		p.Env = []string{"PATH=/bin:/sbin", "FOO=bar=baz qux"}
		p.Cwd = "/etc"
	}))
	out, errOut, code := h.run("run", "--bundle", b.Dir, id)
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
	f := spFields(out)
	want := map[string]string{"argc": "2", "a1": "one two", "a2": "three", "foo": "bar=baz qux", "cwd": "/etc", "envn": "2"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q (output %q)", k, f[k], v, out)
		}
	}
	// spFields trims values; the leading blanks of an argument survive.
	if !strings.Contains(out, "a2=  three\n") {
		t.Errorf("argument with leading blanks was altered: %q", out)
	}
}

// TestProcessUser checks uid, gid, additionalGids and umask.
func TestProcessUser(t *testing.T) {
	h := newHarness(t)
	umask := uint32(0o027)
	out := spOut(t, h, `echo "uid=$(id -u)"; echo "gid=$(id -g)"; echo "groups=$(grep '^Groups:' /proc/self/status | cut -f2)"; echo "umask=$(umask)"; touch /dev/shm/f; echo "mode=$(stat -c %a /dev/shm/f)"`,
		spProcess(func(p *specs.Process) {
			p.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{2000, 3000}, Umask: &umask}
		}))
	f := spFields(out)
	want := map[string]string{"uid": "1000", "gid": "1001", "groups": "2000 3000", "umask": "0027", "mode": "640"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
}

// TestProcessRlimits sets RLIMIT_NOFILE below and up to the host's hard
// limit (20000 here; raising past it needs CAP_SYS_RESOURCE) and NPROC.
func TestProcessRlimits(t *testing.T) {
	h := newHarness(t)
	var host unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &host); err != nil {
		t.Fatal(err)
	}
	out := spOut(t, h, `echo "soft=$(ulimit -n)"; echo "hard=$(ulimit -Hn)"; echo "nproc=$(ulimit -u)"; echo "hnproc=$(ulimit -Hu)"`,
		spProcess(func(p *specs.Process) {
			p.Rlimits = []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: 512, Hard: host.Max},
				{Type: "RLIMIT_NPROC", Soft: 300, Hard: 400},
			}
		}))
	f := spFields(out)
	want := map[string]string{"soft": "512", "hard": strconv.FormatUint(host.Max, 10), "nproc": "300", "hnproc": "400"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
}

// TestNoNewPrivileges checks NoNewPrivs in /proc/self/status both ways.
func TestNoNewPrivileges(t *testing.T) {
	for _, nnp := range []bool{true, false} {
		t.Run(strconv.FormatBool(nnp), func(t *testing.T) {
			h := newHarness(t)
			out := spOut(t, h, `echo "nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)"`,
				spProcess(func(p *specs.Process) { p.NoNewPrivileges = nnp }))
			want := "0"
			if nnp {
				want = "1"
			}
			if got := spFields(out)["nnp"]; got != want {
				t.Errorf("NoNewPrivs = %q, want %s", got, want)
			}
		})
	}
}

// capMask returns the /proc/PID/status hex mask of the named capabilities.
func capMask(names ...string) string {
	bits := map[string]uint{"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18}
	var m uint64
	for _, n := range names {
		b, ok := bits[n]
		if !ok {
			panic("capMask: unknown " + n)
		}
		m |= 1 << b
	}
	return fmt.Sprintf("%016x", m)
}

const capScript = `for s in CapInh CapPrm CapEff CapBnd CapAmb; do echo "$s=$(grep "^$s:" /proc/self/status | cut -f2)"; done`

// TestCapabilities sets five different capability sets. For a non-root
// user, execve keeps the bounding and inheritable sets and makes permitted
// and effective equal to ambient (ambient needs permitted+inheritable, so a
// missing permitted set makes it fail). For root, execve makes permitted and
// effective bounding|inheritable, limited by no_new_privs to the permitted
// set configured (so that case observes the permitted set directly). The inheritable set must stay within the
// bounding set (capset refuses more, for runc too).
func TestCapabilities(t *testing.T) {
	caps := &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SYS_CHROOT"},
		Effective:   []string{"CAP_KILL"},
		Permitted:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT"},
		Inheritable: []string{"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_CHOWN"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT"},
	}
	t.Run("nonroot", func(t *testing.T) {
		h := newHarness(t)
		out := spOut(t, h, capScript, spProcess(func(p *specs.Process) {
			p.User = specs.User{UID: 1000, GID: 1000}
			p.Capabilities = caps
		}))
		f := spFields(out)
		amb := capMask("CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT")
		want := map[string]string{
			"CapBnd": capMask("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SYS_CHROOT"),
			"CapInh": capMask("CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_CHOWN"),
			"CapAmb": amb, "CapPrm": amb, "CapEff": amb,
		}
		for k, v := range want {
			if f[k] != v {
				t.Errorf("%s = %q, want %s", k, f[k], v)
			}
		}
	})
	for _, nnp := range []bool{true, false} {
		t.Run(fmt.Sprintf("root-nnp-%v", nnp), func(t *testing.T) {
			h := newHarness(t)
			out := spOut(t, h, capScript, spProcess(func(p *specs.Process) {
				p.Capabilities = caps
				p.NoNewPrivileges = nnp
			}))
			f := spFields(out)
			// Root's execve grants bounding|inheritable, but no_new_privs
			// caps that at the permitted set held before execve.
			gained := capMask("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SYS_CHROOT")
			if nnp {
				gained = capMask("CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT")
			}
			want := map[string]string{
				"CapBnd": capMask("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SYS_CHROOT"),
				"CapInh": capMask("CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_CHOWN"),
				"CapAmb": capMask("CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT"),
				"CapPrm": gained, "CapEff": gained,
			}
			for k, v := range want {
				if f[k] != v {
					t.Errorf("%s = %q, want %s", k, f[k], v)
				}
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		h := newHarness(t)
		out := spOut(t, h, capScript, spProcess(func(p *specs.Process) { p.Capabilities = &specs.LinuxCapabilities{} }))
		f := spFields(out)
		for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if f[k] != capMask() {
				t.Errorf("%s = %q with empty capabilities, want 0", k, f[k])
			}
		}
	})
}

// TestOOMScoreAdj sets a positive oom_score_adj (lowering it would need
// CAP_SYS_RESOURCE, which root lacks here).
func TestOOMScoreAdj(t *testing.T) {
	h := newHarness(t)
	adj := 345
	out := spOut(t, h, `echo "adj=$(cat /proc/self/oom_score_adj)"`, spProcess(func(p *specs.Process) { p.OOMScoreAdj = &adj }))
	if got := spFields(out)["adj"]; got != "345" {
		t.Errorf("oom_score_adj = %q, want 345", got)
	}
}

// TestScheduler checks process.scheduler through the policy field (41) of
// /proc/self/stat: SCHED_BATCH is 3, SCHED_IDLE is 5.
func TestScheduler(t *testing.T) {
	for _, c := range []struct {
		policy specs.LinuxSchedulerPolicy
		num    string
	}{{specs.SchedBatch, "3"}, {specs.SchedIdle, "5"}} {
		t.Run(string(c.policy), func(t *testing.T) {
			h := newHarness(t)
			out := spOut(t, h, `echo "policy=$(cut -d' ' -f41 /proc/$$/stat)"; echo "nice=$(cut -d' ' -f19 /proc/$$/stat)"`,
				spProcess(func(p *specs.Process) { p.Scheduler = &specs.Scheduler{Policy: c.policy, Nice: 7} }))
			f := spFields(out)
			if f["policy"] != c.num {
				t.Errorf("scheduling policy = %q, want %s (%s)", f["policy"], c.num, c.policy)
			}
			// Only SCHED_BATCH (a fair policy) has a nice value.
			if c.policy == specs.SchedBatch && f["nice"] != "7" {
				t.Errorf("nice = %q, want 7", f["nice"])
			}
		})
	}
}

// TestIOPriority checks process.ioPriority with busybox ionice.
func TestIOPriority(t *testing.T) {
	h := newHarness(t)
	out := spOut(t, h, `echo "io=$(ionice -p $$)"`, spProcess(func(p *specs.Process) {
		p.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6}
	}))
	if got := spFields(out)["io"]; got != "best-effort: prio 6" {
		t.Errorf("ionice = %q, want best-effort: prio 6", got)
	}
}

// TestExecCPUAffinity checks execCPUAffinity.final in Cpus_allowed_list.
func TestExecCPUAffinity(t *testing.T) {
	if n := runtimeCPUs(t); n < 2 {
		t.Skipf("needs 2 CPUs, have %d", n)
	}
	h := newHarness(t)
	out := spOut(t, h, `echo "cpus=$(grep Cpus_allowed_list /proc/self/status | cut -f2)"`, spProcess(func(p *specs.Process) {
		p.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0", Final: "1"}
	}))
	if got := spFields(out)["cpus"]; got != "1" {
		t.Errorf("Cpus_allowed_list = %q, want 1", got)
	}
}

func runtimeCPUs(t *testing.T) int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	return set.Count()
}

// TestSysctl sets a network and an ipc sysctl in the container's own
// namespaces, and checks the host's values are untouched.
func TestSysctl(t *testing.T) {
	hostFwd, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	hostShm, err := os.ReadFile("/proc/sys/kernel/shmmax")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	out := spOut(t, h, `echo "fwd=$(cat /proc/sys/net/ipv4/ip_forward)"; echo "shm=$(cat /proc/sys/kernel/shmmax)"`,
		bundle.WithSpec(func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"}
		}))
	f := spFields(out)
	if f["fwd"] != "1" || f["shm"] != "123456789" {
		t.Errorf("ip_forward = %q, shmmax = %q; want 1, 123456789", f["fwd"], f["shm"])
	}
	for p, before := range map[string][]byte{"/proc/sys/net/ipv4/ip_forward": hostFwd, "/proc/sys/kernel/shmmax": hostShm} {
		if now, _ := os.ReadFile(p); string(now) != string(before) {
			t.Errorf("host %s changed: %q -> %q", p, before, now)
		}
	}
}

// TestPersonality checks linux.personality LINUX32.
func TestPersonality(t *testing.T) {
	h := newHarness(t)
	out := spOut(t, h, `echo "m=$(uname -m)"`, bundle.WithSpec(func(s *specs.Spec) {
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	}))
	if got := spFields(out)["m"]; got != "i686" {
		t.Errorf("uname -m = %q, want i686", got)
	}
}

// fdList extracts the lines between "fds-begin" and "fds-end".
func fdList(out string) string {
	_, rest, _ := strings.Cut(out, "fds-begin\n")
	list, _, _ := strings.Cut(rest, "fds-end")
	return strings.Join(strings.Fields(list), ",")
}

// fdScript lists the shell's own fds (ls is a child, so its own directory
// fd is not among them).
const fdScript = `echo fds-begin; ls /proc/$$/fd; echo fds-end; `

// runWithExtraFiles runs `husk --root R run ARGS` with extra as fds 3.. of
// the runtime.
func runWithExtraFiles(t *testing.T, h *harness, extra []*os.File, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, huskBinary, append([]string{"--root", h.root}, args...)...)
	var stdout, stderr strings.Builder
	outF, err := os.CreateTemp("", "husk-it-out-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { outF.Close(); os.Remove(outF.Name()) }()
	cmd.Stdout = outF
	cmd.Stderr = &stderr
	cmd.ExtraFiles = extra
	runErr := cmd.Run()
	data, _ := os.ReadFile(outF.Name())
	stdout.Write(data)
	code := 0
	if ee, ok := runErr.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if runErr != nil {
		t.Fatalf("husk %v: %v", args, runErr)
	}
	t.Logf("husk %v -> %d\n  stdout: %s\n  stderr: %s", args, code, trimForLog(stdout.String()), trimForLog(stderr.String()))
	return stdout.String(), code
}

// TestPreserveFDs passes an extra fd with --preserve-fds 1: the container
// reads it as fd 3, and sees only 0-3. Without the flag the same extra fd
// of the runtime does not reach the container.
func TestPreserveFDs(t *testing.T) {
	h := newHarness(t)
	extra := tempFileWith(t, "preserved-content")
	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", fdScript + `echo "fd3=$(cat <&3)"`, id})
	out, code := runWithExtraFiles(t, h, []*os.File{extra}, "run", "--preserve-fds", "1", "--bundle", b.Dir, id)
	if code != 0 {
		t.Fatalf("run --preserve-fds 1: exit %d", code)
	}
	if got := fdList(out); got != "0,1,2,3" {
		t.Errorf("fds inside with --preserve-fds 1 = %q, want 0,1,2,3", got)
	}
	if got := spFields(out)["fd3"]; got != "preserved-content" {
		t.Errorf("fd 3 inside reads %q, want preserved-content", got)
	}

	id = h.newID()
	b = h.newBundle(id, []string{"sh", "-c", fdScript, id})
	out, code = runWithExtraFiles(t, h, []*os.File{extra}, "run", "--bundle", b.Dir, id)
	if code != 0 {
		t.Fatalf("run: exit %d", code)
	}
	if got := fdList(out); got != "0,1,2" {
		t.Errorf("fds inside without --preserve-fds = %q, want only 0,1,2", got)
	}
}

func tempFileWith(t *testing.T, content string) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "extra")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestPidFileContent checks that --pid-file holds exactly the init's host
// pid, and that pid is in the container's pid namespace (as its init).
func TestPidFileContent(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	pidFile := filepath.Join(t.TempDir(), "sub", "init.pid")
	if err := os.MkdirAll(filepath.Dir(pidFile), 0o755); err != nil {
		t.Fatal(err)
	}
	h.mustRun("create", "--bundle", b.Dir, "--pid-file", pidFile, id)
	t.Cleanup(func() { h.run("delete", "--force", id) })
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil {
		t.Fatalf("pid file %q is not exactly a number: %v", data, err)
	}
	if st := h.state(id); st.Pid != pid {
		t.Errorf("pid file %d, state pid %d", pid, st.Pid)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	// NSpid lists the pid in each pid namespace: the last must be 1.
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "NSpid:") {
			f := strings.Fields(l)
			if len(f) != 3 || f[2] != "1" {
				t.Errorf("pid %d: %q, want it to be pid 1 of the container", pid, l)
			}
		}
	}
	h.mustRun("delete", "--force", id)
}

// TestPidfdSocket receives the init's pidfd over --pidfd-socket and checks
// it refers to the container's init.
func TestPidfdSocket(t *testing.T) {
	h := newHarness(t)
	sock := filepath.Join(t.TempDir(), "pidfd.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		fds []int
		err error
	}
	got := make(chan result, 1)
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer conn.Close()
		buf := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(4*4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			got <- result{err: err}
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			got <- result{err: err}
			return
		}
		var fds []int
		for i := range msgs {
			if r, err := unix.ParseUnixRights(&msgs[i]); err == nil {
				fds = append(fds, r...)
			}
		}
		got <- result{fds: fds}
	}()
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	_, errOut, code := h.run("create", "--pidfd-socket", sock, "--bundle", b.Dir, id)
	if code != 0 {
		ln.Close()
		<-got
		t.Fatalf("create --pidfd-socket: exit %d: %s", code, errOut)
	}
	t.Cleanup(func() { h.run("delete", "--force", id) })
	r := <-got
	for _, fd := range r.fds {
		defer unix.Close(fd)
	}
	if r.err != nil || len(r.fds) != 1 {
		t.Fatalf("pidfd socket: %d fds, err %v; want exactly one fd", len(r.fds), r.err)
	}
	pid := h.state(id).Pid
	info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", r.fds[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(info), fmt.Sprintf("Pid:\t%d\n", pid)) {
		t.Errorf("received fd's fdinfo %q, want Pid:\t%d", info, pid)
	}
	link, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", r.fds[0]))
	if link != "anon_inode:[pidfd]" && !strings.HasPrefix(link, "pidfd:") {
		t.Errorf("received fd is %q, want a pidfd", link)
	}
	// The pidfd signals the init: kill through it and wait for stopped.
	if err := unix.PidfdSendSignal(r.fds[0], unix.SIGKILL, nil, 0); err != nil {
		t.Errorf("pidfd_send_signal: %v", err)
	}
	h.waitStatus(id, "stopped")
	h.mustRun("delete", id)
}

// TestSessionKeyring: by default the container gets a new session keyring
// named _ses.<id>; with --no-new-keyring it keeps the caller's. A non-root
// user only sees keyrings it possesses in /proc/keys.
func TestSessionKeyring(t *testing.T) {
	opts := []bundle.Option{
		spProcess(func(p *specs.Process) { p.User = specs.User{UID: 1000, GID: 1000} }),
		bundle.WithSpec(func(s *specs.Spec) {
			var keep []string
			for _, m := range s.Linux.MaskedPaths {
				if m != "/proc/keys" {
					keep = append(keep, m)
				}
			}
			s.Linux.MaskedPaths = keep
		}),
	}
	for _, newKeyring := range []bool{true, false} {
		t.Run(map[bool]string{true: "default", false: "no-new-keyring"}[newKeyring], func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			b := h.newBundle(id, []string{"sh", "-c", "cat /proc/keys", id}, opts...)
			args := []string{"run", "--bundle", b.Dir, id}
			if !newKeyring {
				args = []string{"run", "--no-new-keyring", "--bundle", b.Dir, id}
			}
			out, errOut, code := h.run(args...)
			if code != 0 {
				t.Fatalf("run: exit %d: %s", code, errOut)
			}
			has := strings.Contains(out, " _ses."+id+":")
			if has != newKeyring {
				t.Errorf("/proc/keys inside (new keyring %v) lists _ses.%s: %v\n%s", newKeyring, id, has, out)
			}
		})
	}
}
