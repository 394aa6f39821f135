package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// OCIVersion is the ociVersion written into generated specs. It is the
// version every real client (podman, containerd, docker) sends.
const OCIVersion = "1.0.2-dev"

// DefaultHostname is the hostname set by DefaultSpec.
const DefaultHostname = "husk"

// defaultCaps is the capability set of the reference runtime's example spec.
var defaultCaps = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// MaskedPaths are the paths DefaultSpec masks, as in the reference example spec.
var MaskedPaths = []string{
	"/proc/acpi",
	"/proc/asound",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/sys/firmware",
	"/proc/scsi",
}

// ReadonlyPaths are the paths DefaultSpec makes read-only, as in the
// reference example spec.
var ReadonlyPaths = []string{
	"/proc/bus",
	"/proc/fs",
	"/proc/irq",
	"/proc/sys",
	"/proc/sysrq-trigger",
}

// DefaultSpec returns a spec shaped like `runc spec`'s example: new pid, ipc,
// uts, mount and network namespaces; proc, /dev tmpfs, devpts, shm, mqueue and
// a read-only sysfs; the example's masked and read-only paths and capability
// set; no terminal. The rootfs is "rootfs" (relative to the bundle) and is
// read-only. args becomes process.args; with no args the process is "sh".
func DefaultSpec(args ...string) *specs.Spec {
	if len(args) == 0 {
		args = []string{"sh"}
	}
	caps := func() []string { return append([]string(nil), defaultCaps...) }
	return &specs.Spec{
		Version: OCIVersion,
		Process: &specs.Process{
			Terminal: false,
			User:     specs.User{UID: 0, GID: 0},
			Args:     append([]string(nil), args...),
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			},
			Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps(),
				Effective: caps(),
				Permitted: caps(),
				Ambient:   caps(),
			},
			Rlimits: []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024},
			},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: DefaultHostname,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{
				Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			},
			{
				Destination: "/dev/pts", Type: "devpts", Source: "devpts",
				Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			},
			{
				Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
				Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"},
			},
			{
				Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
				Options: []string{"nosuid", "noexec", "nodev"},
			},
			{
				Destination: "/sys", Type: "sysfs", Source: "sysfs",
				Options: []string{"nosuid", "noexec", "nodev", "ro"},
			},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
			},
			MaskedPaths:   append([]string(nil), MaskedPaths...),
			ReadonlyPaths: append([]string(nil), ReadonlyPaths...),
		},
	}
}

// WriteConfig writes s as dir/config.json (indented, mode 0644), replacing
// any existing file atomically.
func WriteConfig(dir string, s *specs.Spec) error {
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	return WriteRawConfig(dir, append(data, '\n'))
}

// WriteRawConfig writes data verbatim as dir/config.json, replacing any
// existing file atomically. Tests use it for deliberately broken configs.
func WriteRawConfig(dir string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".config.json-")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write config %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod config %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close config %s: %w", tmp.Name(), err)
	}
	dst := filepath.Join(dir, "config.json")
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("install config %s: %w", dst, err)
	}
	return nil
}
