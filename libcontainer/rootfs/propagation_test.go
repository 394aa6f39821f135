package rootfs

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func init() {
	scenarios["rootprop"] = scenarioRootPropagation
}

// TestRootfsPropagation checks that linux.rootfsPropagation reaches the
// container's "/" with pivot_root and with --no-pivot; "shared" used to make
// pivot_root fail with EINVAL because it was applied before the switch.
func TestRootfsPropagation(t *testing.T) {
	requireRoot(t)
	for _, prop := range []string{"shared", "private", "slave"} {
		for _, noPivot := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/nopivot=%v", prop, noPivot), func(t *testing.T) {
				_, rootfs := newRootfs(t)
				spec := baseSpec(rootfs)
				spec.Linux.RootfsPropagation = prop
				runChild(t, "rootprop", &childConfig{Spec: spec, Rootfs: rootfs, NoPivot: noPivot}, 0, nil)
			})
		}
	}
}

func scenarioRootPropagation(c *childConfig) error {
	if err := prepareAll(c); err != nil {
		return err
	}
	mounts, err := mountsByPoint()
	if err != nil {
		return err
	}
	var e errs
	mi, ok := mounts["/"]
	if !ok {
		return fmt.Errorf("/ is not a mount point")
	}
	shared := strings.Contains(mi.Optional, "shared:")
	if want := c.Spec.Linux.RootfsPropagation == "shared"; shared != want {
		e.add("rootfsPropagation %s: / optional fields %q", c.Spec.Linux.RootfsPropagation, mi.Optional)
	}
	return e.err()
}

// makeParentPrivate reads the whole mount table; it is skipped only where "/" was made recursively
// non-shared.
func TestNoSharedMounts(t *testing.T) {
	for _, tc := range []struct {
		flags uintptr
		want  bool
	}{
		{unix.MS_SLAVE | unix.MS_REC, true},
		{unix.MS_PRIVATE | unix.MS_REC, true},
		{unix.MS_UNBINDABLE | unix.MS_REC, true},
		{unix.MS_SHARED | unix.MS_REC, false},
		{unix.MS_SLAVE, false}, // only "/" itself: mounts below may still be shared
		{unix.MS_PRIVATE, false},
		{unix.MS_SHARED, false},
	} {
		if got := noSharedMounts(tc.flags); got != tc.want {
			t.Errorf("noSharedMounts(%#x) = %v, want %v", tc.flags, got, tc.want)
		}
	}
}
