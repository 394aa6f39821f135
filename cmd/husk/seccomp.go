package main

import (
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	seccomp "github.com/seccomp/libseccomp-golang"
)

// libseccompVersion is the version of the libseccomp husk is linked with.
func libseccompVersion() string {
	major, minor, micro := seccomp.GetLibraryVersion()
	if major+minor+micro == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}

// seccompFeatures reports seccomp support. Seccomp filters are not wired into container start-up yet, and
// create refuses a config with linux.seccomp, so this says disabled.
func seccompFeatures() *features.Seccomp {
	f := false
	return &features.Seccomp{Enabled: &f}
}
