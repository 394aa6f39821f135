package specconv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultCaps are the capabilities of the example process, in every set.
var defaultCaps = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// Example returns the configuration `husk spec` writes: the same shape and
// defaults as `runc spec`, with this runtime's ociVersion.
func Example() *specs.Spec {
	caps := func() []string { return append([]string(nil), defaultCaps...) }
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: true,
			User:     specs.User{},
			Args:     []string{"sh"},
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
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "runc",
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
			{
				Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
				Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
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
			MaskedPaths: []string{
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
			},
			ReadonlyPaths: []string{
				"/proc/bus",
				"/proc/fs",
				"/proc/irq",
				"/proc/sys",
				"/proc/sysrq-trigger",
			},
		},
	}
}

// ToRootless adjusts a spec (normally from Example) for a container started
// by an unprivileged user, as `runc spec --rootless` does: a user namespace
// mapping the caller's euid and egid to root, no network namespace (an
// unprivileged user could not configure it), /sys bind-mounted from the host
// (sysfs cannot be mounted without owning the network namespace), no uid= or
// gid= mount options (those ids are unmapped), and no cgroup resources.
func ToRootless(s *specs.Spec) {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	var namespaces []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace || ns.Type == specs.UserNamespace {
			continue
		}
		namespaces = append(namespaces, ns)
	}
	s.Linux.Namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Geteuid()), Size: 1}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getegid()), Size: 1}}

	mounts := make([]specs.Mount, 0, len(s.Mounts))
	for _, m := range s.Mounts {
		if filepath.Clean(m.Destination) == "/sys" {
			mounts = append(mounts, specs.Mount{
				Destination: "/sys",
				Type:        "none",
				Source:      "/sys",
				Options:     []string{"rbind", "nosuid", "noexec", "nodev", "ro"},
			})
			continue
		}
		var opts []string
		for _, o := range m.Options {
			if strings.HasPrefix(o, "uid=") || strings.HasPrefix(o, "gid=") {
				continue
			}
			opts = append(opts, o)
		}
		m.Options = opts
		mounts = append(mounts, m)
	}
	s.Mounts = mounts
	s.Linux.Resources = nil
}

// Marshal encodes a spec the way `husk spec` writes it: tab-indented JSON
// without a trailing newline, as runc writes config.json.
func Marshal(s *specs.Spec) ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	return data, nil
}

// WriteNew writes s as bundle/config.json with mode 0666 (less the umask).
// It refuses to replace an existing file, with runc's error text.
func WriteNew(bundle string, s *specs.Spec) error {
	data, err := Marshal(s)
	if err != nil {
		return err
	}
	path := filepath.Join(bundle, ConfigFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("File %s exists. Remove it first", ConfigFile)
		}
		return fmt.Errorf("create spec: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
