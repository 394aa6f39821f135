// Package specconv loads, validates and generates OCI runtime configurations
// (config.json). Everything that can be checked before a container is created
// is checked here, so that create fails early with one clear message.
package specconv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// ValidateID checks a container id: letters, digits, '_', '+', '-' and '.',
// and neither "." nor "..".
func ValidateID(id string) error {
	if id == "" {
		return errors.New("container id cannot be empty")
	}
	if id == "." || id == ".." {
		return fmt.Errorf("invalid container ID format: %s", id)
	}
	// runc's syntax, ^[\w+\-\.]+$ (ASCII \w), checked without a regexp: every husk command does it.
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '+' || c == '-' || c == '.') {
			return fmt.Errorf("invalid container ID format: %s", id)
		}
	}
	return nil
}

// Validate checks a spec before anything is created and returns the first
// problem found. Relative mount destinations and unknown capability names are
// accepted with a warning, as the runtime spec asks; everything else that is
// malformed is an error. A relative root.path is checked relative to the
// current directory: Load makes it absolute first.
func Validate(s *specs.Spec) error {
	if s == nil {
		return errors.New("spec must not be empty")
	}
	if err := validateVersion(s.Version); err != nil {
		return err
	}
	if err := ValidateProcess(s.Process); err != nil {
		return err
	}
	if err := validateRoot(s.Root); err != nil {
		return err
	}
	if err := validateMounts(s.Mounts); err != nil {
		return err
	}
	if err := validateHooks(s.Hooks); err != nil {
		return err
	}
	for k := range s.Annotations {
		if k == "" {
			return errors.New("annotations: keys must not be empty")
		}
	}
	if s.Linux == nil {
		return errors.New("linux section must be present: the mount namespace is required")
	}
	return validateLinux(s)
}

// ValidateProcess checks a process object, from config.json or from an exec
// process.json: args present, cwd absolute, rlimits known and unique, and the
// Linux scheduling and I/O priority settings in range.
func ValidateProcess(p *specs.Process) error {
	if p == nil {
		return errors.New("process property must not be empty")
	}
	if len(p.Args) == 0 {
		return errors.New("args must not be empty")
	}
	if p.Cwd == "" {
		return errors.New("cwd property must not be empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("cwd %q must be an absolute path", p.Cwd)
	}
	seen := make(map[string]bool, len(p.Rlimits))
	for _, r := range p.Rlimits {
		if _, ok := RlimitResource(r.Type); !ok {
			return fmt.Errorf("unknown rlimit type %q", r.Type)
		}
		if seen[r.Type] {
			return fmt.Errorf("rlimit %s is specified more than once", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return fmt.Errorf("rlimit %s: soft limit %d is greater than hard limit %d", r.Type, r.Soft, r.Hard)
		}
	}
	warnUnknownCapabilities(p.Capabilities)
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return fmt.Errorf("oomScoreAdj %d is out of range [-1000, 1000]", *p.OOMScoreAdj)
	}
	if err := validateScheduler(p.Scheduler); err != nil {
		return err
	}
	if p.IOPriority != nil {
		switch p.IOPriority.Class {
		case specs.IOPRIO_CLASS_RT, specs.IOPRIO_CLASS_BE, specs.IOPRIO_CLASS_IDLE:
		default:
			return fmt.Errorf("ioPriority: unknown class %q", p.IOPriority.Class)
		}
		if p.IOPriority.Priority < 0 || p.IOPriority.Priority > 7 {
			return fmt.Errorf("ioPriority: priority %d is out of range [0, 7]", p.IOPriority.Priority)
		}
	}
	return nil
}

// warnUnknownCapabilities logs capability names the kernel does not define.
// The runtime spec requires a warning, not a failure, for these; the
// capabilities code ignores them.
func warnUnknownCapabilities(c *specs.LinuxCapabilities) {
	if c == nil {
		return
	}
	sets := []struct {
		name string
		caps []string
	}{
		{"bounding", c.Bounding}, {"effective", c.Effective}, {"inheritable", c.Inheritable},
		{"permitted", c.Permitted}, {"ambient", c.Ambient},
	}
	for _, set := range sets {
		var unknown []string
		for _, name := range set.caps {
			if _, ok := CapabilityNumber(name); !ok {
				unknown = append(unknown, name)
			}
		}
		if len(unknown) > 0 {
			logrus.Warnf("ignoring unknown capabilities in process.capabilities.%s: %s", set.name, strings.Join(unknown, ", "))
		}
	}
}

// validateScheduler checks the sched_setattr(2) policy and flags.
func validateScheduler(s *specs.Scheduler) error {
	if s == nil {
		return nil
	}
	switch s.Policy {
	case specs.SchedOther, specs.SchedFIFO, specs.SchedRR, specs.SchedBatch, specs.SchedISO,
		specs.SchedIdle, specs.SchedDeadline:
	default:
		return fmt.Errorf("scheduler: unknown policy %q", s.Policy)
	}
	for _, f := range s.Flags {
		switch f {
		case specs.SchedFlagResetOnFork, specs.SchedFlagReclaim, specs.SchedFlagDLOverrun,
			specs.SchedFlagKeepPolicy, specs.SchedFlagKeepParams, specs.SchedFlagUtilClampMin,
			specs.SchedFlagUtilClampMax:
		default:
			return fmt.Errorf("scheduler: unknown flag %q", f)
		}
	}
	if s.Nice < -20 || s.Nice > 19 {
		return fmt.Errorf("scheduler: nice %d is out of range [-20, 19]", s.Nice)
	}
	return nil
}

// validateRoot checks that root.path names an existing directory.
func validateRoot(r *specs.Root) error {
	if r == nil {
		return errors.New("root must be specified")
	}
	if r.Path == "" {
		return errors.New("root.path must be specified")
	}
	// runc's wording: "invalid rootfs: stat /x: no such file or directory".
	fi, err := os.Stat(r.Path)
	if err != nil {
		return fmt.Errorf("invalid rootfs: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("invalid rootfs: %s is not a directory", r.Path)
	}
	return nil
}

// validateMounts checks each mount. A relative destination is allowed for
// compatibility (it is relative to "/") but draws a warning.
func validateMounts(mounts []specs.Mount) error {
	for i, m := range mounts {
		if m.Destination == "" {
			return fmt.Errorf("mounts[%d]: destination must not be empty", i)
		}
		if !filepath.IsAbs(m.Destination) {
			logrus.Warnf("mount destination %s is not absolute; it is taken as relative to /", m.Destination)
		}
		if (len(m.UIDMappings) == 0) != (len(m.GIDMappings) == 0) {
			return fmt.Errorf("mount %s: uidMappings and gidMappings must be specified together", m.Destination)
		}
		if err := validateIDMappings("mount "+m.Destination, m.UIDMappings, m.GIDMappings); err != nil {
			return err
		}
	}
	return nil
}

// validateHooks checks that every hook path is absolute and every timeout
// positive.
func validateHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	kinds := []struct {
		name  string
		hooks []specs.Hook
	}{
		{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime},
		{"createContainer", h.CreateContainer}, {"startContainer", h.StartContainer},
		{"poststart", h.Poststart}, {"poststop", h.Poststop},
	}
	for _, k := range kinds {
		for i, hook := range k.hooks {
			if hook.Path == "" {
				return fmt.Errorf("hooks.%s[%d]: path must not be empty", k.name, i)
			}
			if !filepath.IsAbs(hook.Path) {
				return fmt.Errorf("hooks.%s[%d]: path %q is not absolute", k.name, i, hook.Path)
			}
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				return fmt.Errorf("hooks.%s[%d]: timeout must be greater than zero", k.name, i)
			}
		}
	}
	return nil
}

// validateIDMappings rejects empty mapping ranges and ranges that overflow.
func validateIDMappings(what string, uids, gids []specs.LinuxIDMapping) error {
	for _, set := range []struct {
		kind string
		maps []specs.LinuxIDMapping
	}{{"uid", uids}, {"gid", gids}} {
		for _, m := range set.maps {
			if m.Size == 0 {
				return fmt.Errorf("%s: %s mapping size must be greater than zero", what, set.kind)
			}
			if uint64(m.ContainerID)+uint64(m.Size) >= 1<<32 || uint64(m.HostID)+uint64(m.Size) >= 1<<32 {
				return fmt.Errorf("%s: %s mapping %d:%d:%d overflows", what, set.kind, m.ContainerID, m.HostID, m.Size)
			}
		}
	}
	return nil
}
