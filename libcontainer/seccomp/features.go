package seccomp

import (
	"sort"

	libseccomp "github.com/seccomp/libseccomp-golang"
)

// Actions lists the seccomp actions husk accepts, sorted.
func Actions() []string {
	out := make([]string, 0, len(actionNames))
	for a := range actionNames {
		out = append(out, string(a))
	}
	sort.Strings(out)
	return out
}

// Operators lists the argument operators husk accepts, sorted.
func Operators() []string {
	out := make([]string, 0, len(operatorNames))
	for op := range operatorNames {
		out = append(out, string(op))
	}
	sort.Strings(out)
	return out
}

// Archs lists the architectures the installed libseccomp can build filters
// for, sorted.
func Archs() []string {
	var out []string
	for name, info := range archNames {
		f, err := libseccomp.NewFilter(libseccomp.ActAllow)
		if err != nil {
			continue
		}
		if f.AddArch(info.lib) == nil {
			out = append(out, string(name))
		}
		f.Release()
	}
	sort.Strings(out)
	return out
}

// KnownFlags lists the profile flags husk understands, sorted.
func KnownFlags() []string {
	out := make([]string, 0, len(flagValues))
	for f := range flagValues {
		out = append(out, string(f))
	}
	sort.Strings(out)
	return out
}

// SupportedFlags lists the known flags this kernel accepts, sorted.
// SECCOMP_FILTER_FLAG_TSYNC is always listed: husk accepts it without
// applying it (see flagValues).
func SupportedFlags() []string {
	var out []string
	for f, v := range flagValues {
		if v == 0 || flagSupported(v) {
			out = append(out, string(f))
		}
	}
	sort.Strings(out)
	return out
}

// Enabled reports whether the kernel has seccomp filter mode.
func Enabled() bool {
	// A NULL program with no flags fails with EFAULT when filters exist.
	return flagSupported(0)
}
