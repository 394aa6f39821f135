package v2

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
)

// errNoFreezer is returned on kernels without cgroup.freeze (before 5.2).
var errNoFreezer = errors.New("cgroup v2 freezer (cgroup.freeze) is not available")

// Freeze writes 1 to cgroup.freeze and waits until cgroup.events reports
// "frozen 1". If that does not happen in bounded time the cgroup is thawed
// again and an error returned, so no container is left half-frozen.
func (m *Manager) Freeze() error { return m.freeze(true) }

// Thaw writes 0 to cgroup.freeze and waits for "frozen 0". A cgroup whose
// ancestor is frozen stays frozen; that is reported as an error.
func (m *Manager) Thaw() error { return m.freeze(false) }

// freeze is Freeze (true) or Thaw (false).
func (m *Manager) freeze(freeze bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !common.Exists(m.dir, "cgroup.freeze") {
		return errNoFreezer
	}
	return setFreeze(m.dir, freeze)
}

// FreezerState returns FROZEN when the container's own cgroup was asked to
// freeze (cgroup.freeze is 1), THAWED otherwise, including when the cgroup
// no longer exists, and "" (undefined) on kernels without cgroup.freeze.
func (m *Manager) FreezerState() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return freezerState(m.dir)
}

func freezerState(dir string) (string, error) {
	v, err := common.ReadFile(dir, "cgroup.freeze")
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return common.Thawed, nil
		}
		return common.Undefined, nil
	}
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(v) == "1" {
		return common.Frozen, nil
	}
	return common.Thawed, nil
}

// eventsFrozen reads the "frozen" key of cgroup.events.
func eventsFrozen(dir string) (bool, error) {
	kv, err := common.ReadKeyValues(dir, "cgroup.events")
	if err != nil {
		return false, err
	}
	return kv["frozen"] == 1, nil
}

// setFreeze writes the request and polls cgroup.events with a backoff from
// 100µs to 10ms, for about five seconds in all.
func setFreeze(dir string, freeze bool) error {
	val, what := "0", "thaw"
	if freeze {
		val, what = "1", "freeze"
	}
	if err := common.WriteFile(dir, "cgroup.freeze", val); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	reached, err := common.PollFreezer(func(int) (bool, error) {
		frozen, err := eventsFrozen(dir)
		return frozen == freeze, err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if reached {
		return nil
	}
	if freeze {
		if err := common.WriteFile(dir, "cgroup.freeze", "0"); err != nil {
			return fmt.Errorf("freeze %s timed out, and thawing failed: %w", dir, err)
		}
		return fmt.Errorf("freeze %s: timed out waiting for \"frozen 1\" in cgroup.events; thawed again", dir)
	}
	return fmt.Errorf("thaw %s: timed out waiting for \"frozen 0\" in cgroup.events (is an ancestor frozen?)", dir)
}
