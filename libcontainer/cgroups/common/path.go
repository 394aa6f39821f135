package common

import (
	"fmt"
	"path/filepath"
	"strings"
)

// CleanPath cleans a cgroups path (absolute or relative) and rejects one
// whose ".." components climb above its starting point: "/a/../b" is fine,
// "/../b" and "a/../../b" are errors. An absolute path starts at the
// hierarchy root; a relative one at the caller's own cgroup. The result is
// "/" or "." when the path names its starting point itself.
func CleanPath(p string) (string, error) {
	depth := 0
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "", fmt.Errorf("cgroups path %q escapes its hierarchy", p)
			}
		default:
			depth++
		}
	}
	return filepath.Clean(p), nil
}

// Within reports whether path p is dir itself or lies below it. Both are
// cleaned lexically first; no symlinks are followed (cgroupfs has none).
func Within(dir, p string) bool {
	dir, p = filepath.Clean(dir), filepath.Clean(p)
	if p == dir {
		return true
	}
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, dir+"/")
}
