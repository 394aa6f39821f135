package main

import (
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	libseccomp "github.com/seccomp/libseccomp-golang"

	"github.com/husk-runtime/husk/libcontainer/seccomp"
)

// libseccompVersion is the version of the libseccomp husk is linked with.
func libseccompVersion() string {
	major, minor, micro := libseccomp.GetLibraryVersion()
	if major+minor+micro == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}

// seccompFeatures reports what the seccomp package really implements.
func seccompFeatures() *features.Seccomp {
	enabled := seccomp.Enabled()
	f := &features.Seccomp{Enabled: &enabled}
	if enabled {
		f.Actions = seccomp.Actions()
		f.Operators = seccomp.Operators()
		f.Archs = seccomp.Archs()
		f.KnownFlags = seccomp.KnownFlags()
		f.SupportedFlags = seccomp.SupportedFlags()
	}
	return f
}
