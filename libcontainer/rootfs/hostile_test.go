package rootfs

// Hostile rootfs regression tests (design.md §3): symlinked destinations
// must resolve inside the rootfs, /proc and /sys must not be symlinks, and
// mounts of the wrong kind are refused with an error naming the mount.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func init() {
	scenarios["escape"] = scenarioEscape
	scenarios["expect-error"] = scenarioExpectError
}

// TestSymlinkEscape: "/etc -> /host-etc" and "../../.." symlinks in the
// rootfs stay inside it, and nothing appears on the host.
func TestSymlinkEscape(t *testing.T) {
	requireRoot(t)
	tmp, rootfs := newRootfs(t)
	uniq := filepath.Base(tmp) + "-escape"
	hostTarget := filepath.Join("/tmp", uniq)
	must(t, os.RemoveAll(filepath.Join(rootfs, "etc")))
	must(t, os.Mkdir(filepath.Join(rootfs, "host-etc"), 0o755))
	must(t, os.Symlink("/host-etc", filepath.Join(rootfs, "etc")))
	// The target exists only inside the rootfs; followed naively from the
	// host it would be /tmp/<uniq>, which does not exist there.
	must(t, os.Mkdir(filepath.Join(rootfs, "tmp", uniq), 0o755))
	must(t, os.Symlink(strings.Repeat("../", 12)+"tmp/"+uniq, filepath.Join(rootfs, "escape")))
	hostfile := filepath.Join(tmp, "hosts")
	must(t, os.WriteFile(hostfile, []byte("127.0.0.1 localhost\n"), 0o644))
	t.Cleanup(func() { os.RemoveAll(hostTarget) })
	// A dangling absolute symlink as a file destination: the file is
	// created where it points inside the rootfs, never on the host.
	must(t, os.Symlink("/run/"+uniq+"/stub.conf", filepath.Join(rootfs, "host-etc", "resolv.conf")))

	spec := baseSpec(rootfs)
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/etc/secret", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/escape/x", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: hostfile, Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/escape/file", Type: "bind", Source: hostfile, Options: []string{"bind"}},
		specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: hostfile, Options: []string{"bind"}},
	)
	runChild(t, "escape", &childConfig{Spec: spec, Rootfs: rootfs, Extra: map[string]string{"uniq": uniq}}, 0, nil)

	for _, p := range []string{"/host-etc", hostTarget, "/run/" + uniq} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was created on the host", p)
		}
	}
	for _, p := range []string{"host-etc/secret", "host-etc/hosts", "tmp/" + uniq + "/x", "tmp/" + uniq + "/file", "run/" + uniq + "/stub.conf"} {
		if _, err := os.Lstat(filepath.Join(rootfs, p)); err != nil {
			t.Errorf("mountpoint %s not created inside the rootfs: %v", p, err)
		}
	}
}

func scenarioEscape(c *childConfig) error {
	if err := prepareAll(c); err != nil {
		return err
	}
	var e errs
	mounts, err := mountsByPoint()
	if err != nil {
		return err
	}
	uniq := c.Extra["uniq"]
	expectMount(&e, mounts, "/host-etc/secret", "tmpfs")
	expectMount(&e, mounts, "/tmp/"+uniq+"/x", "tmpfs")
	expectMount(&e, mounts, "/host-etc/hosts", "", "ro")
	expectMount(&e, mounts, "/tmp/"+uniq+"/file", "")
	expectMount(&e, mounts, "/run/"+uniq+"/stub.conf", "")
	if data, err := os.ReadFile("/etc/hosts"); err != nil || !strings.Contains(string(data), "localhost") {
		e.add("/etc/hosts: %q, %v", data, err)
	}
	return e.err()
}

// scenarioExpectError runs Prepare and expects an error containing every
// "|"-separated substring of Extra["want"].
func scenarioExpectError(c *childConfig) error {
	err := Prepare(&Config{Spec: c.Spec, Rootfs: c.Rootfs})
	if err == nil {
		return fmt.Errorf("Prepare succeeded, want an error containing %q", c.Extra["want"])
	}
	fmt.Println(err)
	for _, want := range strings.Split(c.Extra["want"], "|") {
		if !strings.Contains(err.Error(), want) {
			return fmt.Errorf("error %q does not contain %q", err, want)
		}
	}
	return nil
}

// TestRefused covers the mounts Prepare must refuse.
func TestRefused(t *testing.T) {
	requireRoot(t)
	procMount := specs.Mount{Destination: "/proc", Type: "proc", Source: "proc"}
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, tmp, rootfs string)
		mounts func(tmp string) []specs.Mount
		want   string
		absent []string // paths (relative to rootfs) that must not have been created
		host   string   // a host path that must not have been created
	}{
		{
			name: "dangling escape symlink",
			setup: func(t *testing.T, tmp, rootfs string) {
				must(t, os.Symlink("../../../../../../../../tmp/"+filepath.Base(tmp)+"-dangling", filepath.Join(rootfs, "escape")))
			},
			mounts: func(string) []specs.Mount {
				return []specs.Mount{{Destination: "/escape/x", Type: "tmpfs", Source: "tmpfs"}}
			},
			want: "mount tmpfs to /escape/x: |not a directory",
			host: "-dangling",
		},
		{
			name: "proc symlink into rootfs",
			setup: func(t *testing.T, _, rootfs string) {
				must(t, os.Remove(filepath.Join(rootfs, "proc")))
				must(t, os.MkdirAll(filepath.Join(rootfs, "tmp", "fakeproc"), 0o755))
				must(t, os.Symlink("/tmp/fakeproc", filepath.Join(rootfs, "proc")))
			},
			mounts: func(string) []specs.Mount { return []specs.Mount{procMount} },
			want:   "mount proc to /proc: |symlink",
		},
		{
			name: "proc dangling symlink",
			setup: func(t *testing.T, _, rootfs string) {
				must(t, os.Remove(filepath.Join(rootfs, "proc")))
				must(t, os.Symlink("/nowhere", filepath.Join(rootfs, "proc")))
			},
			mounts: func(string) []specs.Mount { return []specs.Mount{procMount} },
			want:   "mount proc to /proc: |symlink",
			absent: []string{"nowhere"},
		},
		{
			name: "sysfs symlink escaping",
			setup: func(t *testing.T, _, rootfs string) {
				must(t, os.Remove(filepath.Join(rootfs, "sys")))
				must(t, os.Symlink("../../../../../../sys", filepath.Join(rootfs, "sys")))
			},
			mounts: func(string) []specs.Mount {
				return []specs.Mount{{Destination: "/sys", Type: "sysfs", Source: "sysfs"}}
			},
			want: "mount sysfs to /sys: |symlink",
		},
		{
			name: "file onto directory",
			mounts: func(tmp string) []specs.Mount {
				return []specs.Mount{{Destination: "/etc", Type: "bind", Source: filepath.Join(tmp, "file"), Options: []string{"bind"}}}
			},
			want: "to /etc: |is a directory",
		},
		{
			name: "directory onto file",
			setup: func(t *testing.T, _, rootfs string) {
				must(t, os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), nil, 0o644))
			},
			mounts: func(tmp string) []specs.Mount {
				return []specs.Mount{{Destination: "/etc/passwd", Type: "bind", Source: filepath.Join(tmp, "dir"), Options: []string{"rbind"}}}
			},
			want: "to /etc/passwd: |not a directory",
		},
		{
			name: "tmpfs inside proc",
			mounts: func(string) []specs.Mount {
				return []specs.Mount{procMount, {Destination: "/proc/sys/kernel", Type: "tmpfs", Source: "tmpfs"}}
			},
			want: "mount tmpfs to /proc/sys/kernel: |inside /proc",
		},
		{
			name: "tmpfs inside proc through a symlink",
			setup: func(t *testing.T, _, rootfs string) {
				must(t, os.Symlink("/proc", filepath.Join(rootfs, "p")))
			},
			mounts: func(string) []specs.Mount {
				return []specs.Mount{procMount, {Destination: "/p/sys/kernel", Type: "tmpfs", Source: "tmpfs"}}
			},
			want: "/proc/sys/kernel cannot be mounted because it is inside /proc",
		},
		{
			name: "non-procfs bind on /proc",
			mounts: func(tmp string) []specs.Mount {
				return []specs.Mount{{Destination: "/proc", Type: "bind", Source: filepath.Join(tmp, "dir"), Options: []string{"rbind"}}}
			},
			want: "only procfs may be mounted on /proc",
		},
		{
			name: "idmapped",
			mounts: func(tmp string) []specs.Mount {
				return []specs.Mount{{Destination: "/x", Type: "bind", Source: filepath.Join(tmp, "dir"), Options: []string{"rbind", "idmap"}}}
			},
			want: "idmapped mounts are not supported",
		},
		{
			name: "unknown filesystem",
			mounts: func(string) []specs.Mount {
				return []specs.Mount{{Destination: "/x", Type: "nosuchfs", Source: "none"}}
			},
			want: "mount nosuchfs to /x: fsopen nosuchfs: no such device",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp, rootfs := newRootfs(t)
			must(t, os.WriteFile(filepath.Join(tmp, "file"), []byte("f"), 0o644))
			must(t, os.Mkdir(filepath.Join(tmp, "dir"), 0o755))
			if tc.setup != nil {
				tc.setup(t, tmp, rootfs)
			}
			spec := baseSpec(rootfs)
			spec.Mounts = tc.mounts(tmp)
			runChild(t, "expect-error", &childConfig{Spec: spec, Rootfs: rootfs, Extra: map[string]string{"want": tc.want}}, 0, nil)
			if tc.host != "" {
				if _, err := os.Lstat("/tmp/" + filepath.Base(tmp) + tc.host); err == nil {
					t.Errorf("host path created")
				}
			}
			for _, p := range tc.absent {
				if _, err := os.Lstat(filepath.Join(rootfs, p)); err == nil {
					t.Errorf("%s was created", p)
				}
			}
		})
	}
}
