package lsm

import (
	"errors"
	"fmt"

	"github.com/opencontainers/selinux/go-selinux"
)

// ErrSELinuxNotEnabled is returned (wrapped) by ValidateSELinux when a
// process label is requested on a host where SELinux is not enabled.
var ErrSELinuxNotEnabled = errors.New("selinux is disabled or not supported")

// SELinuxEnabled reports whether SELinux is enabled on this host (selinuxfs
// mounted and a policy loaded), as opencontainers/selinux determines it.
func SELinuxEnabled() bool {
	return selinux.GetEnabled()
}

// ValidateSELinux checks, before anything is created, that a process label
// can be applied. It matches runc 1.1, whose config validation refuses a
// process label when SELinux is disabled, with the same message:
// "selinux label is specified in config, but selinux is disabled or not
// supported". An empty label always passes.
func ValidateSELinux(processLabel string) error {
	if processLabel == "" {
		return nil // without probing the host (selinuxfs, /proc/filesystems)
	}
	return validateSELinux(processLabel, SELinuxEnabled())
}

func validateSELinux(processLabel string, enabled bool) error {
	if processLabel != "" && !enabled {
		return fmt.Errorf("selinux label is specified in config, but %w", ErrSELinuxNotEnabled)
	}
	return nil
}

// SetExecLabel sets the SELinux label the kernel gives the process image
// started by the calling thread's next execve (process.selinuxLabel). It is
// a no-op when SELinux is disabled or label is empty. Call it right before
// execve, on the thread that will call execve (runtime.LockOSThread).
// opencontainers/selinux writes /proc/thread-self/attr/exec through a procfs
// handle it verifies itself.
func SetExecLabel(label string) error {
	if label == "" || !SELinuxEnabled() {
		return nil
	}
	if err := selinux.SetExecLabel(label); err != nil {
		return fmt.Errorf("set selinux exec label %q: %w", label, err)
	}
	return nil
}

// SetKeyringLabel sets the SELinux label of the next kernel keyring the
// process creates (attr/keycreate), so that the container's session keyring
// carries the process label. It is a no-op when SELinux is disabled. The
// kernel accepts it from the thread-group leader only: call it from the
// init's main thread (the main goroutine locked in an init function) before
// joining a new session keyring.
func SetKeyringLabel(label string) error {
	if !SELinuxEnabled() {
		return nil
	}
	if err := selinux.SetKeyLabel(label); err != nil {
		return fmt.Errorf("set selinux keyring label %q: %w", label, err)
	}
	return nil
}

// SetFileLabel sets the SELinux label of path (the security.selinux
// extended attribute), for mounts whose filesystem has no context option,
// such as mqueue. It is a no-op when SELinux is disabled or label is empty.
// path may be a /proc/self/fd/N handle of an already opened file.
func SetFileLabel(path, label string) error {
	if label == "" || !SELinuxEnabled() {
		return nil
	}
	if err := selinux.SetFileLabel(path, label); err != nil {
		return fmt.Errorf("set selinux label %q on %s: %w", label, path, err)
	}
	return nil
}
