// Package initproc is the Go half of `husk init`: it runs inside the container's namespaces (nsenter has
// created or joined them) and turns the spec into a running process: rootfs, hooks, console, hostname,
// sysctls, process attributes, user, capabilities, and finally the execve after `husk start`.
package initproc

import (
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
