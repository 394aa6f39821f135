// Package systemd is the systemd cgroup driver: each container's cgroup is
// a transient scope unit created over D-Bus (StartTransientUnit) with
// Delegate=yes, so that systemd owns the unit and husk owns what is inside
// it. Resources are given to systemd as unit properties and also written to
// cgroupfs by the v2 driver, for what systemd has no property for.
package systemd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotRunning is returned when systemd is not PID 1 on the host (the text
// is runc's).
var ErrNotRunning = errors.New("systemd not running on this host, cannot use systemd cgroups manager")

// ErrV1NotSupported is returned on cgroup v1 (legacy or hybrid) hosts.
var ErrV1NotSupported = errors.New("systemd cgroup driver on cgroup v1 is not supported")

// DefaultSlice is the slice used when cgroupsPath leaves it empty.
const DefaultSlice = "system.slice"

// DefaultPrefix is the scope prefix used when cgroupsPath is empty.
const DefaultPrefix = "husk"

// IsRunning reports whether systemd booted the host, the way sd_booted(3)
// decides: /run/systemd/system is a directory.
func IsRunning() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// Unit is a parsed systemd cgroupsPath.
type Unit struct {
	// Slice is the parent slice ("system.slice" when empty in the path).
	Slice string
	// Name is the unit name: "<prefix>-<name>.scope", "<name>.scope"
	// without a prefix, or "<name>" when the name is itself a ".slice".
	Name string
	// Path is the unit's cgroup relative to the hierarchy root, e.g.
	// "/system.slice/husk-ctr.scope".
	Path string
}

// IsSlice reports whether the unit is a slice rather than a scope.
func (u Unit) IsSlice() bool { return strings.HasSuffix(u.Name, ".slice") }

// ParseCgroupsPath reads a systemd cgroupsPath "slice:prefix:name" as runc
// does. An empty path means "system.slice:husk:<id>"; an empty slice means
// system.slice; "-.slice" is the root slice. A name ending in ".slice"
// names a slice unit, anything else a scope unit.
func ParseCgroupsPath(cgroupsPath, id string) (Unit, error) {
	slice, prefix, name := DefaultSlice, DefaultPrefix, id
	if cgroupsPath != "" {
		parts := strings.Split(cgroupsPath, ":")
		if len(parts) != 3 {
			return Unit{}, fmt.Errorf("expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got %q instead", cgroupsPath)
		}
		slice, prefix, name = parts[0], parts[1], parts[2]
		if slice == "" {
			slice = DefaultSlice
		}
	}
	if name == "" {
		return Unit{}, fmt.Errorf("systemd cgroupsPath %q: empty unit name", cgroupsPath)
	}
	for _, s := range []string{prefix, name} {
		if strings.ContainsAny(s, "/\x00") || s == "." || s == ".." {
			return Unit{}, fmt.Errorf("systemd cgroupsPath %q: invalid unit name component %q", cgroupsPath, s)
		}
	}
	slicePath, err := ExpandSlice(slice)
	if err != nil {
		return Unit{}, err
	}
	u := Unit{Slice: slice}
	switch {
	case strings.HasSuffix(name, ".slice"):
		u.Name = name
		p, err := ExpandSlice(name)
		if err != nil {
			return Unit{}, err
		}
		u.Path = p
	case prefix == "":
		u.Name = name + ".scope"
	default:
		u.Name = prefix + "-" + name + ".scope"
	}
	if u.Path == "" {
		u.Path = filepath.Join(slicePath, u.Name)
	}
	return u, nil
}

// ExpandSlice turns a slice name into its cgroup path: "a-b-c.slice" is
// "/a.slice/a-b.slice/a-b-c.slice" and "-.slice" is "/".
func ExpandSlice(slice string) (string, error) {
	const suffix = ".slice"
	base, ok := strings.CutSuffix(slice, suffix)
	if !ok || base == "" || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice name: %s", slice)
	}
	if base == "-" {
		return "/", nil
	}
	var path, prefix strings.Builder
	for _, c := range strings.Split(base, "-") {
		if c == "" {
			return "", fmt.Errorf("invalid slice name: %s", slice)
		}
		path.WriteString("/" + prefix.String() + c + suffix)
		prefix.WriteString(c + "-")
	}
	return path.String(), nil
}

// unitFromDir rebuilds a Unit from the cgroup directory Paths() returned.
func unitFromDir(root, dir string) (Unit, error) {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return Unit{}, fmt.Errorf("cgroup path %s: not below %s", dir, root)
	}
	name := filepath.Base(dir)
	if !strings.HasSuffix(name, ".scope") && !strings.HasSuffix(name, ".slice") {
		return Unit{}, fmt.Errorf("cgroup path %s does not name a systemd scope or slice", dir)
	}
	slice := filepath.Base(filepath.Dir(dir))
	if filepath.Dir(rel) == "." {
		slice = "-.slice"
	}
	return Unit{Slice: slice, Name: name, Path: "/" + rel}, nil
}
