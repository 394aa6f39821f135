package specconv

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MaxVersion is the newest runtime-spec version this runtime implements;
// configs with a newer minor version are refused.
var MaxVersion = specs.Version

// semverPattern matches a SemVer 2.0.0 version: MAJOR.MINOR.PATCH with an
// optional pre-release and build metadata.
// Compiled on first use: only config validation needs them, not every husk process.
var semverPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
		`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
		`(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$`)
})

// rcPattern matches the 1.0.0 release candidates ("rc5", "rc.5").
var rcPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^rc\.?(\d+)$`) })

// oldestRC is the first 1.0.0 release candidate whose config format this
// runtime reads (runc draws the same line).
const oldestRC = 5

// validateVersion accepts any 1.x.y up to the minor version of the spec this
// runtime implements, and the 1.0.0 release candidates from rc5 on.
func validateVersion(v string) error {
	if v == "" {
		return fmt.Errorf("ociVersion must be specified")
	}
	m := semverPattern().FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("unsupported spec version %q: not a semantic version", v)
	}
	major, err1 := strconv.Atoi(m[1])
	minor, err2 := strconv.Atoi(m[2])
	patch, err3 := strconv.Atoi(m[3])
	if err1 != nil || err2 != nil || err3 != nil {
		return fmt.Errorf("unsupported spec version %q: number out of range", v)
	}
	pre := m[4]
	if major != specs.VersionMajor || minor > specs.VersionMinor {
		return fmt.Errorf("unsupported spec version %q", v)
	}
	if minor == 0 && patch == 0 && pre != "" {
		rc := rcPattern().FindStringSubmatch(pre)
		if rc == nil {
			return fmt.Errorf("unsupported spec version %q", v)
		}
		if n, err := strconv.Atoi(rc[1]); err != nil || n < oldestRC {
			return fmt.Errorf("unsupported spec version %q", v)
		}
	}
	return nil
}
