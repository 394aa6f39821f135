package libcontainer

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
)

// subCgroups places an exec'd process in existing sub-cgroups of the container (`exec --cgroup`) instead
// of the container's own cgroup; everything else is the container's manager.
type subCgroups struct {
	cgroups.Manager
	dirs []string
}

// Apply moves pid into each sub-cgroup.
func (s *subCgroups) Apply(pid int) error {
	for _, dir := range s.dirs {
		if err := common.WriteFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// withSubCgroups resolves `--cgroup [controller[,controller]:]path` values against the container's cgroup
// paths (as runc: a value without a controller applies to every hierarchy; on cgroup v2 only that form
// exists). The sub-cgroups must exist and stay below the container's cgroup.
func withSubCgroups(cg cgroups.Manager, specs []string) (cgroups.Manager, error) {
	paths := cg.Paths()
	chosen := map[string]string{} // key -> sub path ("" = the container's own cgroup)
	for key := range paths {
		chosen[key] = ""
	}
	for _, s := range specs {
		ctrls, sub, ok := strings.Cut(s, ":")
		if !ok {
			sub, ctrls = s, ""
		}
		if sub == "" {
			return nil, fmt.Errorf("invalid --cgroup value %q", s)
		}
		if ctrls == "" {
			for key := range paths {
				chosen[key] = sub
			}
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			if _, ok := paths[c]; !ok {
				return nil, fmt.Errorf("--cgroup %q: controller %q is not used by the container", s, c)
			}
			chosen[c] = sub
		}
	}
	seen := map[string]bool{}
	var dirs []string
	for key, sub := range chosen {
		base := paths[key]
		dir := filepath.Join(base, sub)
		if sub != "" && !strings.HasPrefix(dir, base+"/") {
			return nil, fmt.Errorf("--cgroup %q escapes the container's cgroup", sub)
		}
		if seen[dir] {
			continue
		}
		seen[dir] = true
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--cgroup: sub-cgroup %s does not exist", dir)
		}
		dirs = append(dirs, dir)
	}
	return &subCgroups{Manager: cg, dirs: dirs}, nil
}
