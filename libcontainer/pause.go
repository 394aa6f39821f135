package libcontainer

import (
	"errors"
	"fmt"
)

// ErrNotPaused is returned by Resume for a container that is not paused
// (runc's text, which managers may match).
var ErrNotPaused = errors.New("container not paused")

// Pause freezes every process of a running or created container through the
// cgroup freezer (v1 freezer.state, v2 cgroup.freeze). It returns once the
// kernel reports the cgroup frozen; the status is then "paused". A stopped
// or already paused container gives ErrNotRunning, as runc does.
func (c *Container) Pause() error {
	switch c.Status() {
	case Running, Created:
	default:
		return ErrNotRunning
	}
	cg, err := c.cgroup()
	if err != nil {
		return fmt.Errorf("pause container: %w", err)
	}
	if err := cg.Freeze(); err != nil {
		return fmt.Errorf("pause container: %w", err)
	}
	return nil
}

// Resume thaws a paused container. Anything that is not frozen (running,
// created, stopped) gives ErrNotPaused. The freezer is asked directly rather
// than through Status, so a container paused while still "created" can be
// resumed too.
func (c *Container) Resume() error {
	if !c.initAlive() || !c.frozen() {
		return ErrNotPaused
	}
	cg, err := c.cgroup()
	if err != nil {
		return fmt.Errorf("resume container: %w", err)
	}
	if err := cg.Thaw(); err != nil {
		return fmt.Errorf("resume container: %w", err)
	}
	return nil
}
