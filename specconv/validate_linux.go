package specconv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsCloneFlags maps each OCI namespace type to its CLONE_NEW* flag, which is
// also what NS_GET_NSTYPE reports for a namespace file.
var nsCloneFlags = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// ipcSysctls are the kernel.* sysctls that belong to the IPC namespace.
var ipcSysctls = map[string]bool{
	"kernel.msgmax":          true,
	"kernel.msgmnb":          true,
	"kernel.msgmni":          true,
	"kernel.msg_next_id":     true,
	"kernel.sem":             true,
	"kernel.sem_next_id":     true,
	"kernel.shmall":          true,
	"kernel.shmmax":          true,
	"kernel.shmmni":          true,
	"kernel.shm_next_id":     true,
	"kernel.shm_rmid_forced": true,
}

// nsSet records which namespaces a spec lists and whether each is joined.
type nsSet map[specs.LinuxNamespaceType]specs.LinuxNamespace

func (n nsSet) has(t specs.LinuxNamespaceType) bool { _, ok := n[t]; return ok }

func (n nsSet) isNew(t specs.LinuxNamespaceType) bool { ns, ok := n[t]; return ok && ns.Path == "" }

// validateLinux checks the linux section.
func validateLinux(s *specs.Spec) error {
	l := s.Linux
	ns, err := validateNamespaces(l.Namespaces)
	if err != nil {
		return err
	}
	if !ns.has(specs.MountNamespace) {
		return errors.New("the mount namespace is required")
	}
	if err := validateUserNamespace(l, ns); err != nil {
		return err
	}
	if len(l.TimeOffsets) > 0 {
		if !ns.has(specs.TimeNamespace) {
			return errors.New("time namespace offsets specified, but time namespace isn't enabled in the config")
		}
		if !ns.isNew(specs.TimeNamespace) {
			return errors.New("time namespace offsets specified, but the time namespace is joined by path: offsets can only be set on a new one")
		}
		for clock, off := range l.TimeOffsets {
			if clock != "monotonic" && clock != "boottime" {
				return fmt.Errorf("timeOffsets: unknown clock %q (want monotonic or boottime)", clock)
			}
			if off.Nanosecs >= 1e9 {
				return fmt.Errorf("timeOffsets.%s: nanosecs %d must be below 1000000000", clock, off.Nanosecs)
			}
		}
	}
	if s.Hostname != "" && !ns.has(specs.UTSNamespace) {
		return errors.New("unable to set hostname without a private UTS namespace")
	}
	if s.Domainname != "" && !ns.has(specs.UTSNamespace) {
		return errors.New("unable to set domainname without a private UTS namespace")
	}
	if err := validateSysctls(l.Sysctl, ns); err != nil {
		return err
	}
	for _, p := range l.MaskedPaths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("maskedPaths: %q is not an absolute path", p)
		}
	}
	for _, p := range l.ReadonlyPaths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("readonlyPaths: %q is not an absolute path", p)
		}
	}
	if err := validateDevices(l); err != nil {
		return err
	}
	if err := validateCgroupsPath(l.CgroupsPath); err != nil {
		return err
	}
	switch l.RootfsPropagation {
	case "", "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable":
	default:
		return fmt.Errorf("rootfsPropagation %q is not supported", l.RootfsPropagation)
	}
	return validateSeccomp(l.Seccomp)
}

// validateNamespaces checks types, duplicates and paths, and that a path
// really names a namespace of the declared type.
func validateNamespaces(list []specs.LinuxNamespace) (nsSet, error) {
	set := make(nsSet, len(list))
	for _, n := range list {
		flag, ok := nsCloneFlags[n.Type]
		if !ok {
			return nil, fmt.Errorf("unknown namespace type %q", n.Type)
		}
		if set.has(n.Type) {
			return nil, fmt.Errorf("malformed spec file: duplicated namespace %q", n.Type)
		}
		set[n.Type] = n
		if n.Path == "" {
			continue
		}
		if !filepath.IsAbs(n.Path) {
			return nil, fmt.Errorf("namespace %s: path %q is not absolute", n.Type, n.Path)
		}
		if err := checkNamespacePath(n.Path, flag); err != nil {
			return nil, fmt.Errorf("namespace %s: %w", n.Type, err)
		}
	}
	return set, nil
}

// checkNamespacePath opens path and asks the kernel which namespace type it
// refers to.
func checkNamespacePath(path string, want int) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	got, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%s is not a namespace file", path)
		}
		return fmt.Errorf("query namespace type of %s: %w", path, err)
	}
	if got != want {
		return fmt.Errorf("%s is not a namespace of this type", path)
	}
	return nil
}

// validateUserNamespace ties uid/gid mappings to a user namespace.
func validateUserNamespace(l *specs.Linux, ns nsSet) error {
	hasMaps := len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0
	if !ns.has(specs.UserNamespace) {
		if hasMaps {
			return errors.New("user namespace mappings specified, but user namespace isn't enabled in the config")
		}
		return nil
	}
	if ns.isNew(specs.UserNamespace) {
		if len(l.UIDMappings) == 0 {
			return errors.New("user namespaces enabled, but no uid mappings found")
		}
		if len(l.GIDMappings) == 0 {
			return errors.New("user namespaces enabled, but no gid mappings found")
		}
	}
	return validateIDMappings("linux", l.UIDMappings, l.GIDMappings)
}

// validateSysctls allows only sysctls that live in a namespace the container
// does not share with the host.
func validateSysctls(sysctls map[string]string, ns nsSet) error {
	for key := range sysctls {
		name := strings.ReplaceAll(key, "/", ".")
		switch {
		case ipcSysctls[name] || strings.HasPrefix(name, "fs.mqueue."):
			if !ns.has(specs.IPCNamespace) {
				return fmt.Errorf("sysctl %q is not allowed in the hosts ipc namespace", key)
			}
		case strings.HasPrefix(name, "net."):
			if !ns.has(specs.NetworkNamespace) {
				return fmt.Errorf("sysctl %q not allowed in host network namespace", key)
			}
			if p := ns[specs.NetworkNamespace].Path; p != "" {
				host, err := sameFile(p, "/proc/self/ns/net")
				if err != nil {
					return fmt.Errorf("sysctl %q: %w", key, err)
				}
				if host {
					return fmt.Errorf("sysctl %q not allowed in host network namespace", key)
				}
			}
		case ns.has(specs.UTSNamespace) && name == "kernel.domainname":
		case ns.has(specs.UTSNamespace) && name == "kernel.hostname":
			return fmt.Errorf("sysctl %q is not allowed as it conflicts with the OCI %q field", key, "hostname")
		default:
			return fmt.Errorf("sysctl %q is not in a separate kernel namespace", key)
		}
	}
	return nil
}

// sameFile reports whether two paths name the same inode.
func sameFile(a, b string) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		return false, &os.PathError{Op: "stat", Path: a, Err: err}
	}
	if err := unix.Stat(b, &sb); err != nil {
		return false, &os.PathError{Op: "stat", Path: b, Err: err}
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}

// validateDevices checks linux.devices and the device cgroup rules.
func validateDevices(l *specs.Linux) error {
	for _, d := range l.Devices {
		switch d.Type {
		case "c", "b", "u", "p":
		default:
			return fmt.Errorf("invalid device type %q for device %s", d.Type, d.Path)
		}
		if d.Path == "" {
			return errors.New("device path must not be empty")
		}
		if !filepath.IsAbs(d.Path) {
			return fmt.Errorf("device path %q is not absolute", d.Path)
		}
	}
	if l.Resources == nil {
		return nil
	}
	for i, r := range l.Resources.Devices {
		switch r.Type {
		case "", "a", "c", "b":
		default:
			return fmt.Errorf("linux.resources.devices[%d]: invalid type %q", i, r.Type)
		}
		if strings.Trim(r.Access, "rwm") != "" {
			return fmt.Errorf("linux.resources.devices[%d]: invalid access %q", i, r.Access)
		}
	}
	return nil
}

// validateCgroupsPath rejects ".." components; everything else is left to the
// cgroup manager, which knows its own path syntax.
func validateCgroupsPath(p string) error {
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == ':' }) {
		if part == ".." {
			return fmt.Errorf("cgroupsPath %q must not contain \"..\"", p)
		}
	}
	return nil
}

// validateSeccomp checks the action and operator names, which form closed
// sets; architectures and syscall names are left to libseccomp.
func validateSeccomp(s *specs.LinuxSeccomp) error {
	if s == nil {
		return nil
	}
	if err := checkSeccompAction(s.DefaultAction); err != nil {
		return fmt.Errorf("seccomp defaultAction: %w", err)
	}
	for i, sc := range s.Syscalls {
		if len(sc.Names) == 0 {
			return fmt.Errorf("seccomp syscalls[%d]: names must not be empty", i)
		}
		if err := checkSeccompAction(sc.Action); err != nil {
			return fmt.Errorf("seccomp syscalls[%d]: %w", i, err)
		}
		for _, a := range sc.Args {
			switch a.Op {
			case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
				specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
			default:
				return fmt.Errorf("seccomp syscalls[%d]: unknown operator %q", i, a.Op)
			}
		}
	}
	return nil
}

func checkSeccompAction(a specs.LinuxSeccompAction) error {
	switch a {
	case specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap, specs.ActErrno,
		specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify:
		return nil
	}
	return fmt.Errorf("unknown action %q", a)
}
