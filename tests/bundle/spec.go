package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/specconv"
)

// OCIVersion is the ociVersion written into generated specs. It is the
// version every real client (podman, containerd, docker) sends.
const OCIVersion = "1.0.2-dev"

// DefaultHostname is the hostname set by DefaultSpec.
const DefaultHostname = "husk"

// MaskedPaths are the paths DefaultSpec masks: those of `husk spec` (runc's example spec).
var MaskedPaths = specconv.Example().Linux.MaskedPaths

// ReadonlyPaths are the paths DefaultSpec makes read-only: those of `husk spec`.
var ReadonlyPaths = specconv.Example().Linux.ReadonlyPaths

// DefaultSpec returns `husk spec`'s example (runc's): new pid, ipc, uts, mount and network namespaces;
// proc, /dev tmpfs, devpts, shm, mqueue and a read-only sysfs; the example's masked and read-only
// paths, capabilities and rlimits; with these changes for tests: ociVersion "1.0.2-dev" (what the
// clients send), no terminal, hostname DefaultHostname, args as process.args ("sh" when none), and no
// /sys/fs/cgroup mount (tests that want one add it).
func DefaultSpec(args ...string) *specs.Spec {
	if len(args) == 0 {
		args = []string{"sh"}
	}
	s := specconv.Example()
	s.Version = OCIVersion
	s.Hostname = DefaultHostname
	s.Process.Terminal = false
	s.Process.Args = append([]string(nil), args...)
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		if m.Type != "cgroup" {
			mounts = append(mounts, m)
		}
	}
	s.Mounts = mounts
	return s
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
