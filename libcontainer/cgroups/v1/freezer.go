package v1

import (
	"errors"
	"fmt"
	"os"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
)

// errNoFreezer is returned when the freezer hierarchy is not mounted.
var errNoFreezer = errors.New("freezer cgroup controller is not available")

// Freeze freezes every process in the container and waits until the kernel
// reports FROZEN. If that does not happen in bounded time the cgroup is
// thawed again and an error returned, so no container is left half-frozen.
func (m *Manager) Freeze() error { return m.setState(common.Frozen) }

// Thaw lets the container's processes run again and waits for THAWED.
func (m *Manager) Thaw() error { return m.setState(common.Thawed) }

// setState is Freeze (want FROZEN) or Thaw (want THAWED).
func (m *Manager) setState(want string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, ok := m.path("freezer")
	if !ok {
		return errNoFreezer
	}
	return setFreezer(dir, want)
}

// FreezerState returns "FROZEN" when the container's own cgroup was asked to
// freeze (even while the kernel is still FREEZING it), "THAWED" otherwise,
// including when only an ancestor cgroup is frozen or when the cgroup no
// longer exists. Without a freezer hierarchy it returns "" (undefined).
func (m *Manager) FreezerState() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, ok := m.path("freezer")
	if !ok {
		return common.Undefined, nil
	}
	return freezerState(dir)
}

func freezerState(dir string) (string, error) {
	self, err := common.ReadFile(dir, "freezer.self_freezing")
	if err == nil {
		if self == "1" {
			return common.Frozen, nil
		}
		return common.Thawed, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	// Kernels without self_freezing: fall back to the effective state.
	st, err := common.ReadFile(dir, "freezer.state")
	if errors.Is(err, os.ErrNotExist) {
		// No cgroup (any more): nothing in it can be frozen.
		return common.Thawed, nil
	}
	if err != nil {
		return "", err
	}
	if st == "THAWED" {
		return common.Thawed, nil
	}
	return common.Frozen, nil
}

// setFreezer writes want (FROZEN or THAWED) to freezer.state and polls until
// the kernel reports it, rewriting the request now and then (a write of
// FROZEN makes the kernel retry tasks that could not be frozen yet). The
// poll backs off from 100µs to 10ms and gives up after about five seconds.
func setFreezer(dir, want string) error {
	reached, err := common.PollFreezer(func(attempt int) (bool, error) {
		if attempt%10 == 0 {
			if err := common.WriteFile(dir, "freezer.state", want); err != nil {
				return false, err
			}
		}
		st, err := common.ReadFile(dir, "freezer.state")
		return st == want, err
	})
	if err != nil || reached {
		return err
	}
	if want == common.Frozen {
		if err := common.WriteFile(dir, "freezer.state", common.Thawed); err != nil {
			return fmt.Errorf("freeze %s timed out, and thawing failed: %w", dir, err)
		}
		return fmt.Errorf("freeze %s: timed out waiting for FROZEN (some task cannot be frozen); thawed again", dir)
	}
	return fmt.Errorf("thaw %s: timed out waiting for THAWED", dir)
}
