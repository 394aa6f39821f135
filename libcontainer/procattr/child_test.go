package procattr

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const childEnv = "HUSK_PROCATTR_TEST_CHILD"

// children are the scenarios that change process or thread attributes; they
// run in a re-executed test binary and report "key=value" lines on stdout.
var children = map[string]func(report func(k, v string)) error{
	"user":      childUser,
	"rlimits":   childRlimits,
	"sched":     childSched,
	"uts":       childUTS,
	"keyring":   childKeyring,
	"closeexec": childCloseExec,
}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		runtime.LockOSThread()
		fn := children[name]
		report := func(k, v string) { fmt.Printf("%s=%s\n", k, v) }
		if fn == nil {
			fmt.Fprintln(os.Stderr, "unknown child", name)
			os.Exit(2)
		}
		if err := fn(report); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild runs scenario name in a child process and returns its report.
func runChild(t *testing.T, name string, cloneflags uintptr) map[string]string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s: %v: %s", name, err, stderr.String())
	}
	res := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			res[k] = v
		}
	}
	return res
}

func expect(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func threadStatus(report func(k, v string), keys ...string) error {
	data, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		for _, want := range keys {
			if k == want {
				report(k, strings.Join(strings.Fields(v), " "))
			}
		}
	}
	return nil
}

func childUser(report func(k, v string)) error {
	caps, err := capabilities.FromSpec(&specs.LinuxCapabilities{
		Bounding:  []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"},
		Effective: []string{"CAP_NET_BIND_SERVICE"},
		Permitted: []string{"CAP_NET_BIND_SERVICE"},
	})
	if err != nil {
		return err
	}
	if err := caps.ApplyBounding(); err != nil {
		return err
	}
	if err := SetupUser(specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{2000, 2001}}); err != nil {
		return err
	}
	if err := caps.Apply(); err != nil {
		return err
	}
	return threadStatus(report, "Uid", "Gid", "Groups", "CapEff", "CapPrm", "CapBnd")
}

func childRlimits(report func(k, v string)) error {
	if err := SetRlimits([]specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1024},
		{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
	}); err != nil {
		return err
	}
	for name, r := range map[string]int{"nofile": unix.RLIMIT_NOFILE, "core": unix.RLIMIT_CORE} {
		var l unix.Rlimit
		if err := unix.Getrlimit(r, &l); err != nil {
			return err
		}
		report(name, fmt.Sprintf("%d/%d", l.Cur, l.Max))
	}
	err := SetRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 4096, Hard: 4096}})
	report("raise", fmt.Sprint(err))
	err = SetRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 900, Hard: 800}})
	report("inverted", fmt.Sprint(err))
	return nil
}

func childSched(report func(k, v string)) error {
	if err := SetScheduler(&specs.Scheduler{Policy: specs.SchedBatch, Nice: 5}); err != nil {
		return err
	}
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return err
	}
	report("sched", fmt.Sprintf("%d/%d", attr.Policy, attr.Nice))
	if err := SetIOPriority(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 4}); err != nil {
		return err
	}
	prio, _, e := unix.RawSyscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0)
	if e != 0 {
		return e
	}
	report("ioprio", fmt.Sprintf("%d/%d", prio>>ioprioClassShift, prio&0xff))
	if err := SetCPUAffinity("0"); err != nil {
		return err
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return err
	}
	report("cpus", fmt.Sprintf("%d/%v", set.Count(), set.IsSet(0)))
	if err := SetPersonality(&specs.LinuxPersonality{Domain: specs.PerLinux32}); err != nil {
		return err
	}
	per, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	report("personality", fmt.Sprintf("%#x", per&0xff))
	if err := SetNoNewPrivileges(); err != nil {
		return err
	}
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		return err
	}
	report("nnp", fmt.Sprint(nnp))
	if err := SetUmask(nil); err != nil {
		return err
	}
	report("umask", fmt.Sprintf("%#o", unix.Umask(0)))
	m := uint32(0o077)
	if err := SetUmask(&m); err != nil {
		return err
	}
	report("umask2", fmt.Sprintf("%#o", unix.Umask(0)))
	return nil
}

// childUTS runs in a new UTS namespace (set by the parent).
func childUTS(report func(k, v string)) error {
	if err := SetHostname("h1"); err != nil {
		return err
	}
	if err := SetDomainname("d1"); err != nil {
		return err
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	report("uname1", unix.ByteSliceToString(u.Nodename[:])+"/"+unix.ByteSliceToString(u.Domainname[:]))
	if err := WriteSysctls(map[string]string{"kernel.hostname": "h2", "kernel/domainname": "d2"}); err != nil {
		return err
	}
	_ = unix.Uname(&u)
	report("uname2", unix.ByteSliceToString(u.Nodename[:])+"/"+unix.ByteSliceToString(u.Domainname[:]))
	if err := writeSysctls("/proc", map[string]string{"kernel.hostname": "h3"}, true); err != nil {
		return err
	}
	_ = unix.Uname(&u)
	report("uname3", unix.ByteSliceToString(u.Nodename[:]))
	err := WriteSysctls(map[string]string{"kernel.no_such_knob": "1"})
	report("missing", fmt.Sprint(err))
	return nil
}

func childKeyring(report func(k, v string)) error {
	if err := JoinSessionKeyring("_ses.husk-test"); err != nil {
		return err
	}
	desc, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, unix.KEY_SPEC_SESSION_KEYRING)
	if err != nil {
		return err
	}
	f := strings.Split(desc, ";")
	report("name", f[len(f)-1])
	report("perm", f[3])
	return nil
}

func childCloseExec(report func(k, v string)) error {
	flags := func(fd int) string {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(fl & unix.FD_CLOEXEC)
	}
	a, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	b, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	if err := CloseExecFrom(b); err != nil {
		return err
	}
	report("range", flags(a)+flags(b))
	if _, err := unix.FcntlInt(uintptr(b), unix.F_SETFD, 0); err != nil {
		return err
	}
	if err := closeExecWalk(b); err != nil {
		return err
	}
	report("walk", flags(a)+flags(b))
	report("stdio", flags(0)+flags(1)+flags(2))
	return nil
}

func TestSetupUserAndCaps(t *testing.T) {
	got := runChild(t, "user", 0)
	expect(t, got, map[string]string{
		"Uid":    "1000 1000 1000 1000",
		"Gid":    "1001 1001 1001 1001",
		"Groups": "2000 2001",
		"CapEff": "0000000000000400",
		"CapPrm": "0000000000000400",
		"CapBnd": "0000000000000401",
	})
}

func TestSetRlimits(t *testing.T) {
	got := runChild(t, "rlimits", 0)
	expect(t, got, map[string]string{
		"nofile":   "512/1024",
		"core":     "0/0",
		"raise":    "set RLIMIT_NOFILE to soft 4096, hard 4096: operation not permitted (raising the hard limit above 1024 needs CAP_SYS_RESOURCE)",
		"inverted": "set RLIMIT_NOFILE: soft limit 900 is above hard limit 800",
	})
}

func TestSchedulingAndMisc(t *testing.T) {
	got := runChild(t, "sched", 0)
	expect(t, got, map[string]string{
		"sched":       "3/5",
		"ioprio":      "2/4",
		"cpus":        "1/true",
		"personality": "0x8",
		"nnp":         "1",
		"umask":       "022",
		"umask2":      "077",
	})
}

func TestHostnameAndSysctls(t *testing.T) {
	got := runChild(t, "uts", unix.CLONE_NEWUTS)
	expect(t, got, map[string]string{
		"uname1":  "h1/d1",
		"uname2":  "h2/d2",
		"uname3":  "h3",
		"missing": `write sysctl "kernel.no_such_knob": open: no such file or directory`,
	})
}

func TestJoinSessionKeyring(t *testing.T) {
	got := runChild(t, "keyring", 0)
	if got["name"] != "_ses.husk-test" {
		t.Fatalf("session keyring = %q", got["name"])
	}
	var perm uint32
	if _, err := fmt.Sscanf(got["perm"], "%x", &perm); err != nil || perm&keyUsrSearch == 0 {
		t.Fatalf("keyring perm %q lacks KEY_USR_SEARCH", got["perm"])
	}
}

func TestCloseExecFrom(t *testing.T) {
	got := runChild(t, "closeexec", 0)
	expect(t, got, map[string]string{"range": "01", "walk": "01", "stdio": "000"})
}
