// Package lsm applies the Linux security module settings of an OCI process:
// the AppArmor profile (process.apparmorProfile) and the SELinux labels
// (process.selinuxLabel, linux.mountLabel).
//
// The parent calls ValidateAppArmor and ValidateSELinux before it creates
// anything; the container init calls SetKeyringLabel before it creates the
// session keyring, SetFileLabel for an mqueue mount (the rootfs package passes
// the mount label to tmpfs and devpts as their context option), and
// ApplyAppArmor and SetExecLabel right before execve, after the user and
// capabilities are set. Both exec attributes belong to the calling thread,
// so the init must be locked to its OS thread from then until execve.
package lsm

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

const (
	appArmorFS    = "/sys/kernel/security/apparmor"
	appArmorParam = "/sys/module/apparmor/parameters/enabled"
)

// ErrAppArmorNotEnabled is returned (wrapped) when a profile is requested on
// a host where AppArmor is not enabled.
var ErrAppArmorNotEnabled = errors.New("apparmor is disabled or not supported")

// appArmorAttrs are the exec attributes tried in order, relative to
// /proc/thread-self: the per-LSM directory (kernels with LSM stacking, 5.8+)
// and the shared one of older kernels.
var appArmorAttrs = []string{"attr/apparmor/exec", "attr/exec"}

var appArmorEnabled = sync.OnceValue(func() bool {
	return appArmorEnabledAt(appArmorFS, appArmorParam)
})

// AppArmorEnabled reports whether AppArmor is usable on this host: its
// securityfs directory exists and the module parameter "enabled" reads "Y".
// As in runc, being inside a container is not checked, and apparmor_parser
// is not required (loading profiles is the caller's business). The answer
// is computed once per process.
func AppArmorEnabled() bool {
	return appArmorEnabled()
}

func appArmorEnabledAt(fsDir, param string) bool {
	if _, err := os.Stat(fsDir); err != nil {
		return false
	}
	buf, err := os.ReadFile(param)
	return err == nil && strings.HasPrefix(string(buf), "Y")
}

// ValidateAppArmor checks, before anything is created, that profile can be
// applied: an empty profile always passes; otherwise AppArmor must be
// enabled and the name must not contain a NUL byte (the kernel would cut the
// name there and confine the process with another profile).
//
// runc 1.1 has no such early check: with AppArmor disabled it fails inside
// the container init, when the write to /proc/self/attr/exec returns EINVAL
// ("unable to apply apparmor profile: ... invalid argument"). husk refuses
// the same configurations, only earlier and with a clearer message.
func ValidateAppArmor(profile string) error {
	if profile == "" {
		return nil // without probing the host: create and exec call this every time
	}
	return validateAppArmor(profile, AppArmorEnabled())
}

func validateAppArmor(profile string, enabled bool) error {
	if profile == "" {
		return nil
	}
	if strings.ContainsRune(profile, 0) {
		return fmt.Errorf("apparmor profile %q: name contains a NUL byte", profile)
	}
	if !enabled {
		return fmt.Errorf("apparmor profile %q is specified in config, but %w", profile, ErrAppArmorNotEnabled)
	}
	return nil
}

// ApplyAppArmor makes the kernel confine the calling thread with profile at
// its next execve, by writing "exec <profile>" to
// /proc/thread-self/attr/apparmor/exec (or attr/exec on older kernels)
// through a verified procfs handle (see procRoot). An empty profile does
// nothing. It fails, without writing, when AppArmor is not enabled. Call it
// in the container init right before execve, after the user and capabilities
// are set, on the thread that will call execve (runtime.LockOSThread).
func ApplyAppArmor(profile string) error {
	return applyAppArmor("/proc", profile, AppArmorEnabled(), false)
}

func applyAppArmor(procPath, profile string, enabled, walk bool) error {
	if profile == "" {
		return nil
	}
	if err := validateAppArmor(profile, enabled); err != nil {
		return err
	}
	if err := writeThreadSelf(procPath, appArmorAttrs, "exec "+profile, walk); err != nil {
		return fmt.Errorf("apply apparmor profile %q: %w", profile, err)
	}
	return nil
}
