package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// repoRoot is the module root, three levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func readSpec(t *testing.T, dir string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func TestTypicalSpec(t *testing.T) {
	dir := t.TempDir()
	s, err := typicalSpec(dir, filepath.Join(repoRoot(t), "tests/fixtures/seccomp/default.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Linux.Namespaces) != 5 {
		t.Errorf("namespaces = %v, want pid, ipc, uts, mount, network", s.Linux.Namespaces)
	}
	names := 0
	for _, sc := range s.Linux.Seccomp.Syscalls {
		names += len(sc.Names)
	}
	if s.Linux.Seccomp.DefaultAction != specs.ActErrno || names < 300 {
		t.Errorf("seccomp: default %s, %d syscalls; want errno and a docker-like list", s.Linux.Seccomp.DefaultAction, names)
	}
	r := s.Linux.Resources
	if r.Memory == nil || *r.Memory.Limit != typicalMemLimit || r.Pids == nil || r.CPU == nil || len(r.Devices) < 2 {
		t.Errorf("resources incomplete: %+v", r)
	}
	if len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 {
		t.Error("no masked or read-only paths")
	}
	for _, f := range []string{"hosts", "resolv.conf", "hostname"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("bind source %s: %v", f, err)
		}
	}
}

func TestBuildBundlesAndInstances(t *testing.T) {
	husk := filepath.Join(repoRoot(t), "bin/husk")
	if _, err := os.Stat(husk); err != nil {
		t.Skipf("needs bin/husk (make build): %v", err)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs busybox-static")
	}
	dir := t.TempDir()
	bs, err := buildBundles(dir, husk, "/bin/busybox", filepath.Join(repoRoot(t), "tests/fixtures/seccomp/default.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{kindMinimal, kindTypical} {
		s := readSpec(t, filepath.Join(dir, kind))
		if s.Version != benchOCIVersion || s.Process.Terminal || s.Process.Args[0] != "/bin/true" || s.Root.Path != "rootfs" {
			t.Errorf("%s: version %q terminal %v args %v root %q", kind, s.Version, s.Process.Terminal, s.Process.Args, s.Root.Path)
		}
		for _, p := range []string{"bin/busybox", "bin/true", "bin/sleep", "proc", "dev", "etc/passwd"} {
			if _, err := os.Lstat(filepath.Join(dir, kind, "rootfs", p)); err != nil {
				t.Errorf("%s rootfs: %v", kind, err)
			}
		}
	}

	in, err := bs.newInstance(kindTypical, "c1", sleepArgs, func(s *specs.Spec) { s.Hostname = "changed" })
	if err != nil {
		t.Fatal(err)
	}
	s := readSpec(t, in.Dir)
	if s.Linux.CgroupsPath != "/husk-bench/c1" || s.Hostname != "changed" || s.Process.Args[0] != "sleep" {
		t.Errorf("instance: cgroupsPath %q hostname %q args %v", s.Linux.CgroupsPath, s.Hostname, s.Process.Args)
	}
	if !filepath.IsAbs(s.Root.Path) {
		t.Errorf("instance root.path %q is not absolute", s.Root.Path)
	}
	for _, m := range s.Mounts {
		if m.Type == "bind" && !filepath.IsAbs(m.Source) {
			t.Errorf("bind mount source %q is not absolute", m.Source)
		}
	}
	if tmpl := bs.templates[kindTypical]; tmpl.Linux.CgroupsPath != "" || tmpl.Process.Args[0] != "/bin/true" {
		t.Error("newInstance changed the template")
	}
	if err := in.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(in.Dir); !os.IsNotExist(err) {
		t.Errorf("instance dir still there: %v", err)
	}
	if _, err := bs.newInstance("other", "c2", nil, nil); err == nil {
		t.Error("no error for an unknown kind")
	}
}
