// Package initproc is the Go half of `husk init`: it runs inside the container's namespaces (nsenter has
// created or joined them) and turns the spec into a running process: rootfs, hooks, console, hostname,
// sysctls, process attributes, user, capabilities, and finally the execve after `husk start`.
package initproc

import (
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/seccomp"
)

// Config is what the parent sends init in the sync "config" message.
type Config struct {
	ID           string            `json:"id"`
	Bundle       string            `json:"bundle"`
	Rootfs       string            `json:"rootfs"`
	Spec         *specs.Spec       `json:"spec,omitempty"` // create only; without linux.seccomp (see Seccomp)
	HostPid      int               `json:"host_pid"`
	NoPivot      bool              `json:"no_pivot,omitempty"`
	NoNewKeyring bool              `json:"no_new_keyring,omitempty"`
	PreserveFDs  int               `json:"preserve_fds,omitempty"`
	CgroupPaths  map[string]string `json:"cgroup_paths,omitempty"`
	// LateCgroup: the parent is still moving init into the container's cgroup; ask (sync "cgroup")
	// before anything that needs to be in it.
	LateCgroup bool `json:"late_cgroup,omitempty"`
	// Exec: start Process in the running container instead of building it.
	Exec    bool           `json:"exec,omitempty"`
	Process *specs.Process `json:"process,omitempty"`
	// Seccomp is the compiled filter (the parent compiles and caches; init only loads).
	Seccomp *seccomp.Program `json:"seccomp,omitempty"`
}

// wireConfig is Config as init decodes it: the spec through specView, which leaves out what init never
// reads (cgroup resources, which the parent applies; other platforms), so that encoding/json does not
// analyse those types on init's critical path (~0.3 ms).
type wireConfig struct {
	*Config
	Spec *specView `json:"spec,omitempty"`
}

type specView struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *linuxView        `json:"linux,omitempty"`
}

type linuxView struct {
	UIDMappings       []specs.LinuxIDMapping           `json:"uidMappings,omitempty"`
	GIDMappings       []specs.LinuxIDMapping           `json:"gidMappings,omitempty"`
	Sysctl            map[string]string                `json:"sysctl,omitempty"`
	CgroupsPath       string                           `json:"cgroupsPath,omitempty"`
	Namespaces        []specs.LinuxNamespace           `json:"namespaces,omitempty"`
	Devices           []specs.LinuxDevice              `json:"devices,omitempty"`
	RootfsPropagation string                           `json:"rootfsPropagation,omitempty"`
	MaskedPaths       []string                         `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string                         `json:"readonlyPaths,omitempty"`
	MountLabel        string                           `json:"mountLabel,omitempty"`
	Personality       *specs.LinuxPersonality          `json:"personality,omitempty"`
	TimeOffsets       map[string]specs.LinuxTimeOffset `json:"timeOffsets,omitempty"`
}

// decodeConfig decodes the parent's config message.
func decodeConfig(b []byte) (*Config, error) {
	w := wireConfig{Config: &Config{}}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("decode init config: %w", err)
	}
	if v := w.Spec; v != nil {
		sp := &specs.Spec{Version: v.Version, Process: v.Process, Root: v.Root, Hostname: v.Hostname,
			Domainname: v.Domainname, Mounts: v.Mounts, Hooks: v.Hooks, Annotations: v.Annotations}
		if l := v.Linux; l != nil {
			sp.Linux = &specs.Linux{UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl,
				CgroupsPath: l.CgroupsPath, Namespaces: l.Namespaces, Devices: l.Devices,
				RootfsPropagation: l.RootfsPropagation, MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths,
				MountLabel: l.MountLabel, Personality: l.Personality, TimeOffsets: l.TimeOffsets}
		}
		w.Config.Spec = sp
	}
	return w.Config, nil
}
