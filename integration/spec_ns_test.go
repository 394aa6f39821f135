//go:build linux

package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// spOut runs `sh -c script` in a foreground container built with opts and
// returns what it printed; the container must exit 0.
func spOut(t *testing.T, h *harness, script string, opts ...bundle.Option) string {
	t.Helper()
	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", script, id}, opts...)
	out, errOut, code := h.run("run", "--bundle", b.Dir, id)
	if code != 0 {
		t.Fatalf("run %s: exit %d, stderr %q", id, code, errOut)
	}
	return out
}

// spFields parses "key=value" lines (the first '=' splits).
func spFields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// spWithNS adds (or, with path, joins) a namespace of type typ, replacing any
// entry of that type.
func spWithNS(typ specs.LinuxNamespaceType, path string) bundle.Option {
	return bundle.WithSpec(func(s *specs.Spec) {
		spDropNS(s, typ)
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
	})
}

// spWithoutNS removes the namespace of type typ from the spec.
func spWithoutNS(typ specs.LinuxNamespaceType) bundle.Option {
	return bundle.WithSpec(func(s *specs.Spec) { spDropNS(s, typ) })
}

func spDropNS(s *specs.Spec, typ specs.LinuxNamespaceType) {
	var keep []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != typ {
			keep = append(keep, ns)
		}
	}
	s.Linux.Namespaces = keep
}

// hostNS returns the namespace link (e.g. "net:[4026531840]") of pid.
func hostNS(t *testing.T, pid, name string) string {
	t.Helper()
	l, err := os.Readlink(filepath.Join("/proc", pid, "ns", name))
	if err != nil {
		t.Fatalf("readlink ns %s of %s: %v", name, pid, err)
	}
	return l
}

// nsScript prints each namespace link of the container's shell as
// "ns.NAME=LINK".
const nsScript = `for n in pid net ipc uts mnt cgroup user time; do echo "ns.$n=$(readlink /proc/$$/ns/$n)"; done; `

// TestNamespacesNew creates each namespace type and observes both that it is
// not the host's and what it isolates; without the entry the host's is kept.
func TestNamespacesNew(t *testing.T) {
	userMap := bundle.WithSpec(func(s *specs.Spec) {
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	})
	cases := []struct {
		name   string
		ns     specs.LinuxNamespaceType
		link   string
		script string
		opts   []bundle.Option
		check  func(t *testing.T, f map[string]string, out string)
	}{
		{"pid", specs.PIDNamespace, "pid", `echo "self=$$"`, nil, func(t *testing.T, f map[string]string, _ string) {
			if f["self"] != "1" {
				t.Errorf("$$ in a new pid namespace = %q, want 1", f["self"])
			}
		}},
		{"net", specs.NetworkNamespace, "net", `echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ,)"`, nil,
			func(t *testing.T, f map[string]string, _ string) {
				if f["ifaces"] != "lo," {
					t.Errorf("interfaces in a new net namespace = %q, want only lo", f["ifaces"])
				}
			}},
		{"ipc", specs.IPCNamespace, "ipc", `echo "msgqs=$(tail -n +2 /proc/sysvipc/msg | wc -l)"`, nil, func(t *testing.T, f map[string]string, _ string) {
			if f["msgqs"] != "0" {
				t.Errorf("message queues in a new ipc namespace = %q, want 0", f["msgqs"])
			}
		}},
		{"uts", specs.UTSNamespace, "uts", `echo "host=$(hostname)"`, nil, func(t *testing.T, f map[string]string, _ string) {
			if f["host"] != bundle.DefaultHostname {
				t.Errorf("hostname = %q, want %q", f["host"], bundle.DefaultHostname)
			}
		}},
		{"mount", specs.MountNamespace, "mnt", `echo "root=$(cut -d' ' -f5 /proc/self/mountinfo | grep -cx /)"; echo "hostmnt=$(grep -c ' /sys/fs/cgroup/memory ' /proc/self/mountinfo)"`, nil, func(t *testing.T, f map[string]string, _ string) {
			if f["root"] != "1" {
				t.Errorf("mountinfo has %q mounts on /, want 1", f["root"])
			}
			if f["hostmnt"] != "0" {
				t.Errorf("the host's /sys/fs/cgroup/memory mount is visible (%q)", f["hostmnt"])
			}
		}},
		{"cgroup", specs.CgroupNamespace, "cgroup", `echo "cg=$(grep :memory: /proc/self/cgroup || grep ^0:: /proc/self/cgroup)"`, nil, func(t *testing.T, f map[string]string, _ string) {
			// v1: the memory hierarchy's line; pure v2: the unified "0::" line.
			if !strings.HasSuffix(f["cg"], ":/") {
				t.Errorf("memory cgroup in a new cgroup namespace = %q, want it to be /", f["cg"])
			}
		}},
		{"user", specs.UserNamespace, "user",
			`echo "uidmap=$(cat /proc/self/uid_map)"; echo "gidmap=$(cat /proc/self/gid_map)"; echo "uid=$(id -u)"; echo "owner=$(stat -c %u:%g /etc/owned)"; echo "hostroot=$(stat -c %u /etc/hostroot)"`,
			[]bundle.Option{userMap}, func(t *testing.T, f map[string]string, _ string) {
				want := "0 100000 65536"
				if strings.Join(strings.Fields(f["uidmap"]), " ") != want || strings.Join(strings.Fields(f["gidmap"]), " ") != want {
					t.Errorf("uid_map %q gid_map %q, want %q", f["uidmap"], f["gidmap"], want)
				}
				if f["uid"] != "0" {
					t.Errorf("id -u = %q, want 0", f["uid"])
				}
				if f["owner"] != "0:0" {
					t.Errorf("file owned by 100000:100000 on the host appears as %q, want 0:0", f["owner"])
				}
				if f["hostroot"] != "65534" {
					t.Errorf("file owned by host root appears as %q, want the overflow uid 65534", f["hostroot"])
				}
			}},
		{"time", specs.TimeNamespace, "time", `echo "uptime=$(cut -d' ' -f1 /proc/uptime)"`,
			[]bundle.Option{bundle.WithSpec(func(s *specs.Spec) {
				s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
					"boottime":  {Secs: 10 * 86400},
					"monotonic": {Secs: 86400},
				}
			})}, func(t *testing.T, f map[string]string, _ string) {
				in, err := strconv.ParseFloat(f["uptime"], 64)
				if err != nil {
					t.Fatalf("uptime inside: %q", f["uptime"])
				}
				host := hostUptime(t)
				// The container read its uptime before the host did, so the
				// host's value is larger unless the offset was applied.
				if in < host+9*86400 {
					t.Errorf("uptime inside %.0f, host %.0f: boottime offset of 10 days not applied", in, host)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := os.Stat("/proc/self/ns/" + c.link); err != nil {
				t.Skipf("this kernel has no %s namespaces (user-mode Linux has no time namespace)", c.link)
			}
			h := newHarness(t)
			opts := append([]bundle.Option{spWithNS(c.ns, "")}, c.opts...)
			id := h.newID()
			b := h.newBundle(id, []string{"sh", "-c", nsScript + c.script, id}, opts...)
			if c.ns == specs.UserNamespace {
				// The container's root is host uid 100000: it must be able
				// to reach the rootfs through the bundle's private dirs.
				for _, d := range []string{filepath.Dir(b.Dir), b.Dir} {
					if err := os.Chmod(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				writeFile(t, b, "etc/owned", "x\n", 0o644)
				writeFile(t, b, "etc/hostroot", "x\n", 0o644)
				if err := os.Chown(filepath.Join(b.Rootfs, "etc/owned"), 100000, 100000); err != nil {
					t.Fatal(err)
				}
			}
			out, errOut, code := h.run("run", "--bundle", b.Dir, id)
			if code != 0 {
				t.Fatalf("run: exit %d, stderr %q", code, errOut)
			}
			f := spFields(out)
			if got, host := f["ns."+c.link], hostNS(t, "self", c.link); got == "" || got == host {
				t.Errorf("%s namespace inside = %q, host's is %q: want a new one", c.name, got, host)
			}
			c.check(t, f, out)

			// Without the entry the container stays in the host's namespace.
			if c.ns == specs.MountNamespace {
				return // a container always needs its own mount namespace
			}
			out = spOut(t, h, nsScript, spWithoutNS(c.ns), bundle.WithSpec(func(s *specs.Spec) {
				if c.ns == specs.UTSNamespace {
					s.Hostname = "" // a hostname needs a private uts namespace
				}
			}))
			if got, host := spFields(out)["ns."+c.link], hostNS(t, "self", c.link); got != host {
				t.Errorf("without a %s entry the namespace is %q, want the host's %q", c.name, got, host)
			}
		})
	}
}

// TestNamespaceUserAndTime combines a new user namespace with a time
// namespace and offsets (the offsets are written by a process whose
// namespace is owned by the new user namespace).
func TestNamespaceUserAndTime(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := userTimeBundle(h, id, []string{"sh", "-c", `echo "uptime=$(cut -d' ' -f1 /proc/uptime)"; echo "uid=$(id -u)"`, id})
	out, errOut, code := h.run("run", "--bundle", b.Dir, id)
	if code != 0 {
		t.Fatalf("user+time namespaces with timeOffsets: exit %d: %s", code, strings.TrimSpace(errorMessage(errOut)))
	}
	f := spFields(out)
	in, err := strconv.ParseFloat(f["uptime"], 64)
	if err != nil {
		t.Fatalf("uptime inside: %q", f["uptime"])
	}
	if host := hostUptime(t); in < host+9*86400 {
		t.Errorf("uptime inside %.0f, host %.0f: boottime offset not applied", in, host)
	}
	if f["uid"] != "0" {
		t.Errorf("id -u = %q, want 0", f["uid"])
	}
}

// userTimeBundle is a bundle running args in new user and time namespaces: container root is host
// uid/gid 100000 (65536 ids mapped), and boottime is 10 days ahead.
func userTimeBundle(h *harness, id string, args []string) *bundle.Bundle {
	h.t.Helper()
	b := h.newBundle(id, args, spWithNS(specs.UserNamespace, ""), spWithNS(specs.TimeNamespace, ""),
		bundle.WithSpec(func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 10 * 86400}}
		}))
	// The container's root is host uid 100000: it must reach the rootfs through the bundle's dirs.
	for _, d := range []string{filepath.Dir(b.Dir), b.Dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			h.t.Fatal(err)
		}
	}
	return b
}

func hostUptime(t *testing.T) float64 {
	t.Helper()
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	if err != nil {
		t.Fatalf("host uptime %q: %v", data, err)
	}
	return v
}

// TestNamespacesJoinByPath starts container A, then runs container B that
// joins A's network, uts and ipc namespaces by path: B sees A's hostname and
// A's ipc sysctl value, and its namespace links are A's.
func TestNamespacesJoinByPath(t *testing.T) {
	h := newHarness(t)
	idA := h.newID()
	bA := h.newBundle(idA, sleeper(idA), bundle.WithSpec(func(s *specs.Spec) {
		s.Hostname = "host-of-a"
		s.Linux.Sysctl = map[string]string{"kernel.shmmni": "1234"}
	}))
	h.create(idA, bA)
	t.Cleanup(func() { h.run("delete", "--force", idA) })
	h.start(idA)
	pid := strconv.Itoa(h.state(idA).Pid)

	script := nsScript + `echo "host=$(hostname)"; echo "shmmni=$(cat /proc/sys/kernel/shmmni)"`
	out := spOut(t, h, script,
		spWithNS(specs.NetworkNamespace, "/proc/"+pid+"/ns/net"),
		spWithNS(specs.UTSNamespace, "/proc/"+pid+"/ns/uts"),
		spWithNS(specs.IPCNamespace, "/proc/"+pid+"/ns/ipc"),
		bundle.WithSpec(func(s *specs.Spec) { s.Hostname = "" }))
	f := spFields(out)
	for _, n := range []string{"net", "uts", "ipc"} {
		if want := hostNS(t, pid, n); f["ns."+n] != want {
			t.Errorf("joined %s namespace = %q, want A's %q", n, f["ns."+n], want)
		}
	}
	if f["ns.pid"] == hostNS(t, pid, "pid") {
		t.Errorf("pid namespace %q was joined, want a new one", f["ns.pid"])
	}
	if f["host"] != "host-of-a" {
		t.Errorf("hostname in B = %q, want A's host-of-a", f["host"])
	}
	if f["shmmni"] != "1234" {
		t.Errorf("kernel.shmmni in B = %q, want A's 1234", f["shmmni"])
	}
	h.mustRun("kill", idA, "KILL")
	h.waitStatus(idA, "stopped")
	h.mustRun("delete", idA)
}

// TestHostnameDomainname checks hostname and domainname inside the container.
func TestHostnameDomainname(t *testing.T) {
	h := newHarness(t)
	out := spOut(t, h, `echo "host=$(hostname)"; echo "dom=$(cat /proc/sys/kernel/domainname)"; echo "uname=$(uname -n)"`,
		bundle.WithSpec(func(s *specs.Spec) {
			s.Hostname = "box-7"
			s.Domainname = "example.test"
		}))
	f := spFields(out)
	if f["host"] != "box-7" || f["uname"] != "box-7" {
		t.Errorf("hostname = %q, uname -n = %q, want box-7", f["host"], f["uname"])
	}
	if f["dom"] != "example.test" {
		t.Errorf("domainname = %q, want example.test", f["dom"])
	}
}

// TestAnnotations checks that `state` reports the spec's annotations.
func TestAnnotations(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	want := map[string]string{"org.example.key": "value 1", "io.husk.test": "two"}
	b := h.newBundle(id, sleeper(id), bundle.WithSpec(func(s *specs.Spec) { s.Annotations = want }))
	h.create(id, b)
	st := h.state(id)
	for k, v := range want {
		if st.Annotations[k] != v {
			t.Errorf("state annotation %q = %q, want %q (all: %v)", k, st.Annotations[k], v, st.Annotations)
		}
	}
	if len(st.Annotations) != len(want) {
		t.Errorf("state annotations = %v, want %v", st.Annotations, want)
	}
	h.mustRun("delete", "--force", id)
}

// TestCgroupsPathPlacement checks that the container's init is in the
// cgroupsPath cgroup before it runs user code (created state, host view) and
// that the process sees that path in /proc/self/cgroup.
func TestCgroupsPathPlacement(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", "exit 0", id})
	cgPath := "/" + cgroupParent + "/" + id
	h.create(id, b)
	t.Cleanup(func() { h.run("delete", "--force", id) })
	pid := strconv.Itoa(h.state(id).Pid)
	for _, ctrl := range []string{"memory", "pids", "cpu"} {
		data, err := os.ReadFile(filepath.Join(cgroupRoot, ctrl, cgPath, "cgroup.procs"))
		if err != nil {
			t.Errorf("%s cgroup: %v", ctrl, err)
			continue
		}
		if !containsField(string(data), pid) {
			t.Errorf("%s%s/cgroup.procs = %q, lacks init pid %s", ctrl, cgPath, data, pid)
		}
	}
	h.start(id)
	h.waitStatus(id, "stopped")
	h.mustRun("delete", id)

	out := spOut(t, h, `echo "cg=$(grep :memory: /proc/self/cgroup)"`, bundle.WithSpec(func(s *specs.Spec) {
		s.Linux.CgroupsPath = "/" + cgroupParent + "/" + h.prefix + "-custom/inner"
	}))
	if want := ":memory:/" + cgroupParent + "/" + h.prefix + "-custom/inner"; !strings.HasSuffix(spFields(out)["cg"], want) {
		t.Errorf("memory cgroup inside = %q, want suffix %q", spFields(out)["cg"], want)
	}
	// The intermediate directory is the test's, not the runtime's: remove it.
	dirs, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", cgroupParent, h.prefix+"-custom"))
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}

func containsField(s, f string) bool {
	for _, x := range strings.Fields(s) {
		if x == f {
			return true
		}
	}
	return false
}
