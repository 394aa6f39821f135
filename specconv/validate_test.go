package specconv

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// validSpec returns Example() with an existing rootfs directory.
func validSpec(t *testing.T) *specs.Spec {
	t.Helper()
	s := Example()
	s.Root.Path = t.TempDir()
	return s
}

// captureLog sends logrus output to a buffer for the rest of the test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	out, level := logrus.StandardLogger().Out, logrus.GetLevel()
	logrus.SetOutput(&buf)
	logrus.SetLevel(logrus.InfoLevel)
	t.Cleanup(func() {
		logrus.SetOutput(out)
		logrus.SetLevel(level)
	})
	return &buf
}

func removeNS(s *specs.Spec, typ specs.LinuxNamespaceType) {
	var out []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != typ {
			out = append(out, n)
		}
	}
	s.Linux.Namespaces = out
}

func setNSPath(s *specs.Spec, typ specs.LinuxNamespaceType, path string) {
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == typ {
			s.Linux.Namespaces[i].Path = path
		}
	}
}

func TestValidateErrors(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	zero, neg := 0, 5000
	tests := []struct {
		name   string
		mutate func(*specs.Spec)
		want   string
	}{
		{"no version", func(s *specs.Spec) { s.Version = "" }, "ociVersion must be specified"},
		{"version 2", func(s *specs.Spec) { s.Version = "2.0.0" }, `unsupported spec version "2.0.0"`},
		{"version too new", func(s *specs.Spec) { s.Version = "1.4.0" }, `unsupported spec version "1.4.0"`},
		{"version not semver", func(s *specs.Spec) { s.Version = "1.0" }, `unsupported spec version "1.0": not a semantic version`},
		{"version old rc", func(s *specs.Spec) { s.Version = "1.0.0-rc4" }, `unsupported spec version "1.0.0-rc4"`},
		{"version 0.x", func(s *specs.Spec) { s.Version = "0.6.0" }, `unsupported spec version "0.6.0"`},
		{"no process", func(s *specs.Spec) { s.Process = nil }, "process property must not be empty"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, "args must not be empty"},
		{"empty cwd", func(s *specs.Spec) { s.Process.Cwd = "" }, "cwd property must not be empty"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, `cwd "tmp" must be an absolute path`},
		{"unknown rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_FOO"})
		}, `unknown rlimit type "RLIMIT_FOO"`},
		{"duplicate rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: 5, Soft: 5})
		}, "rlimit RLIMIT_NOFILE is specified more than once"},
		{"rlimit soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Hard: 1, Soft: 2}}
		}, "rlimit RLIMIT_CORE: soft limit 2 is greater than hard limit 1"},
		{"oom score", func(s *specs.Spec) { s.Process.OOMScoreAdj = &neg }, "oomScoreAdj 5000 is out of range"},
		{"scheduler policy", func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FOO"}
		}, `scheduler: unknown policy "SCHED_FOO"`},
		{"io priority class", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: "X"}
		}, `ioPriority: unknown class "X"`},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root must be specified"},
		{"empty root path", func(s *specs.Spec) { s.Root.Path = "" }, "root.path must be specified"},
		{"missing rootfs", func(s *specs.Spec) { s.Root.Path = "/nonexistent/rootfs" }, "invalid rootfs: stat /nonexistent/rootfs: no such file or directory"},
		{"rootfs is a file", func(s *specs.Spec) { s.Root.Path = regular }, "invalid rootfs: " + regular + " is not a directory"},
		{"empty mount destination", func(s *specs.Spec) { s.Mounts[0].Destination = "" }, "mounts[0]: destination must not be empty"},
		{"mount mappings unpaired", func(s *specs.Spec) {
			s.Mounts[0].UIDMappings = []specs.LinuxIDMapping{{Size: 1}}
		}, "mount /proc: uidMappings and gidMappings must be specified together"},
		{"relative hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "true"}}}
		}, `hooks.prestart[0]: path "true" is not absolute`},
		{"zero hook timeout", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Timeout: &zero}}}
		}, "hooks.poststop[0]: timeout must be greater than zero"},
		{"empty annotation key", func(s *specs.Spec) { s.Annotations = map[string]string{"": "x"} }, "annotations: keys must not be empty"},
		{"no linux", func(s *specs.Spec) { s.Linux = nil }, "the mount namespace is required"},
		{"no mount ns", func(s *specs.Spec) { removeNS(s, specs.MountNamespace) }, "the mount namespace is required"},
		{"unknown ns", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "foo"})
		}, `unknown namespace type "foo"`},
		{"duplicate ns", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
		}, `malformed spec file: duplicated namespace "pid"`},
		{"relative ns path", func(s *specs.Spec) { setNSPath(s, specs.NetworkNamespace, "proc/1/ns/net") },
			`namespace network: path "proc/1/ns/net" is not absolute`},
		{"ns path missing", func(s *specs.Spec) { setNSPath(s, specs.NetworkNamespace, "/nonexistent/ns") },
			"namespace network: open /nonexistent/ns: no such file or directory"},
		{"ns path not a namespace", func(s *specs.Spec) { setNSPath(s, specs.NetworkNamespace, regular) },
			"namespace network: " + regular + " is not a namespace file"},
		{"ns path wrong type", func(s *specs.Spec) { setNSPath(s, specs.PIDNamespace, "/proc/self/ns/net") },
			"namespace pid: /proc/self/ns/net is not a namespace of this type"},
		{"userns without uid mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
		}, "user namespaces enabled, but no uid mappings found"},
		{"userns without gid mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}}
		}, "user namespaces enabled, but no gid mappings found"},
		{"mappings without userns", func(s *specs.Spec) {
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{Size: 1}}
		}, "user namespace mappings specified, but user namespace isn't enabled in the config"},
		{"zero-size mapping", func(s *specs.Spec) { ToRootless(s); s.Linux.UIDMappings[0].Size = 0 },
			"linux: uid mapping size must be greater than zero"},
		{"overflowing mapping", func(s *specs.Spec) {
			ToRootless(s)
			s.Linux.GIDMappings[0] = specs.LinuxIDMapping{ContainerID: 1, HostID: 0, Size: 1<<32 - 1}
		}, "linux: gid mapping 1:0:4294967295 overflows"},
		{"time offsets without time ns", func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "time namespace offsets specified, but time namespace isn't enabled in the config"},
		{"time offsets with joined time ns", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "time", Path: "/proc/self/ns/time"})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "time namespace offsets specified, but the time namespace is joined by path"},
		{"time offsets unknown clock", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "time"})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 1}}
		}, `timeOffsets: unknown clock "realtime"`},
		{"hostname without uts", func(s *specs.Spec) { removeNS(s, specs.UTSNamespace) },
			"unable to set hostname without a private UTS namespace"},
		{"domainname without uts", func(s *specs.Spec) { removeNS(s, specs.UTSNamespace); s.Hostname = ""; s.Domainname = "x" },
			"unable to set domainname without a private UTS namespace"},
		{"net sysctl without netns", func(s *specs.Spec) {
			removeNS(s, specs.NetworkNamespace)
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, `sysctl "net.ipv4.ip_forward" not allowed in host network namespace`},
		{"net sysctl in joined host netns", func(s *specs.Spec) {
			setNSPath(s, specs.NetworkNamespace, "/proc/self/ns/net")
			s.Linux.Sysctl = map[string]string{"net/ipv4/ip_forward": "1"}
		}, `sysctl "net/ipv4/ip_forward" not allowed in host network namespace`},
		{"ipc sysctl without ipcns", func(s *specs.Spec) {
			removeNS(s, specs.IPCNamespace)
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
		}, `sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace`},
		{"mqueue sysctl without ipcns", func(s *specs.Spec) {
			removeNS(s, specs.IPCNamespace)
			s.Linux.Sysctl = map[string]string{"fs.mqueue.msg_max": "1"}
		}, `sysctl "fs.mqueue.msg_max" is not allowed in the hosts ipc namespace`},
		{"kernel.hostname sysctl", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"kernel.hostname": "x"}
		}, `sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field`},
		{"domainname sysctl without uts", func(s *specs.Spec) {
			removeNS(s, specs.UTSNamespace)
			s.Hostname = ""
			s.Linux.Sysctl = map[string]string{"kernel.domainname": "x"}
		}, `sysctl "kernel.domainname" is not in a separate kernel namespace`},
		{"host-wide sysctl", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"}
		}, `sysctl "vm.swappiness" is not in a separate kernel namespace`},
		{"relative masked path", func(s *specs.Spec) { s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "proc/foo") },
			`maskedPaths: "proc/foo" is not an absolute path`},
		{"relative readonly path", func(s *specs.Spec) { s.Linux.ReadonlyPaths = []string{"sys"} },
			`readonlyPaths: "sys" is not an absolute path`},
		{"device type", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Type: "x", Path: "/dev/foo"}}
		}, `invalid device type "x" for device /dev/foo`},
		{"relative device path", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Type: "c", Path: "dev/foo", Major: 1, Minor: 3}}
		}, `device path "dev/foo" is not absolute`},
		{"device rule type", func(s *specs.Spec) { s.Linux.Resources.Devices[0].Type = "z" },
			`linux.resources.devices[0]: invalid type "z"`},
		{"device rule access", func(s *specs.Spec) { s.Linux.Resources.Devices[0].Access = "rwx" },
			`linux.resources.devices[0]: invalid access "rwx"`},
		{"cgroups path dotdot", func(s *specs.Spec) { s.Linux.CgroupsPath = "/a/../../b" },
			`cgroupsPath "/a/../../b" must not contain ".."`},
		{"rootfs propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "weird" },
			`rootfsPropagation "weird" is not supported`},
		{"seccomp default action", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}
		}, `seccomp defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{"seccomp operator", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_XX"}},
			}}}
		}, `seccomp syscalls[0]: unknown operator "SCMP_CMP_XX"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec(t)
			tc.mutate(s)
			err := Validate(s)
			if err == nil {
				t.Fatalf("Validate succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*specs.Spec)
	}{
		{"example", func(*specs.Spec) {}},
		{"version every client sends", func(s *specs.Spec) { s.Version = "1.0.2-dev" }},
		{"version 1.0.0", func(s *specs.Spec) { s.Version = "1.0.0" }},
		{"version rc5", func(s *specs.Spec) { s.Version = "1.0.0-rc5" }},
		{"version rc.6", func(s *specs.Spec) { s.Version = "1.0.0-rc.6" }},
		{"version 1.2.1", func(s *specs.Spec) { s.Version = "1.2.1" }},
		{"version 1.3.9 with build", func(s *specs.Spec) { s.Version = "1.3.9+dev" }},
		{"ipc, net and uts sysctls", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{
				"kernel.shm_rmid_forced": "1", "kernel.sem": "1 2 3 4", "fs.mqueue.queues_max": "9",
				"net.ipv4.ip_forward": "1", "net/core/somaxconn": "10", "kernel.domainname": "x",
			}
		}},
		{"netns joined by path", func(s *specs.Spec) { setNSPath(s, specs.NetworkNamespace, "/proc/self/ns/net") }},
		{"mount ns joined by path", func(s *specs.Spec) { setNSPath(s, specs.MountNamespace, "/proc/self/ns/mnt") }},
		{"rootless", func(s *specs.Spec) { ToRootless(s) }},
		{"time ns with offsets", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "time"})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: -5}, "boottime": {Nanosecs: 7}}
		}},
		{"all namespaces", func(s *specs.Spec) {
			ToRootless(s)
			s.Linux.Namespaces = append(s.Linux.Namespaces,
				specs.LinuxNamespace{Type: "network"}, specs.LinuxNamespace{Type: "cgroup"}, specs.LinuxNamespace{Type: "time"})
		}},
		{"systemd cgroups path", func(s *specs.Spec) { s.Linux.CgroupsPath = "system.slice:husk:abc" }},
		{"docker-style spec", func(s *specs.Spec) {
			oom := 0
			s.Process.OOMScoreAdj = &oom
			s.Process.Capabilities = &specs.LinuxCapabilities{}
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/proc/1/exe", Args: []string{"libnetwork-setkey"}}}}
			s.Linux.Devices = []specs.LinuxDevice{{Type: "p", Path: "/dev/fifo"}}
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
				specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "rwm"})
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"personality"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}},
			}}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec(t)
			tc.mutate(s)
			if err := Validate(s); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateWarnings(t *testing.T) {
	log := captureLog(t)
	s := validSpec(t)
	s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FOO")
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "tmp", Type: "tmpfs", Source: "tmpfs"})
	if err := Validate(s); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, want := range []string{
		"ignoring unknown capabilities in process.capabilities.bounding: CAP_FOO",
		"mount destination tmp is not absolute",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log %q lacks warning %q", log.String(), want)
		}
	}
}

func TestValidateID(t *testing.T) {
	good := []string{"a", "abc-123", "x_y.z+1", "A.B", "..a", strings.Repeat("f", 64)}
	for _, id := range good {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q): %v", id, err)
		}
	}
	bad := map[string]string{
		"":         "container id cannot be empty",
		".":        "invalid container ID format: .",
		"..":       "invalid container ID format: ..",
		"a/b":      "invalid container ID format: a/b",
		"../x":     "invalid container ID format: ../x",
		"a b":      "invalid container ID format: a b",
		"a:b":      "invalid container ID format: a:b",
		"ünïcode":  "invalid container ID format: ünïcode",
		"x\n":      "invalid container ID format: x\n",
		"semi;col": "invalid container ID format: semi;col",
	}
	for id, want := range bad {
		err := ValidateID(id)
		if err == nil || err.Error() != want {
			t.Errorf("ValidateID(%q) = %v, want %q", id, err, want)
		}
	}
}

func TestCapabilityAndRlimitNames(t *testing.T) {
	if n, ok := CapabilityNumber("CAP_KILL"); !ok || n != 5 {
		t.Errorf("CAP_KILL = %d, %v", n, ok)
	}
	if n, ok := CapabilityNumber("CAP_CHECKPOINT_RESTORE"); !ok || n != 40 {
		t.Errorf("CAP_CHECKPOINT_RESTORE = %d, %v", n, ok)
	}
	if _, ok := CapabilityNumber("CAP_FOO"); ok {
		t.Error("CAP_FOO is known")
	}
	if r, ok := RlimitResource("RLIMIT_NOFILE"); !ok || r != 7 {
		t.Errorf("RLIMIT_NOFILE = %d, %v", r, ok)
	}
	if _, ok := RlimitResource("RLIMIT_FOO"); ok {
		t.Error("RLIMIT_FOO is known")
	}
}
