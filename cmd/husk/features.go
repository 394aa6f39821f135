package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/urfave/cli"

	"github.com/husk-runtime/husk/libcontainer/capabilities"
	"github.com/husk-runtime/husk/libcontainer/lsm"
	"github.com/husk-runtime/husk/libcontainer/rootfs"
	"github.com/husk-runtime/husk/specconv"
)

var featuresCommand = cli.Command{
	Name:      "features",
	Usage:     "show the enabled features",
	ArgsUsage: "",
	Description: `Show the enabled features.
   The result is parsable as a JSON.
   See https://github.com/opencontainers/runtime-spec/blob/main/features.md for the type definition.
   Only what this build really implements is reported.`,
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 0, exactArgs); err != nil {
			return err
		}
		t, f := true, false
		// The LSMs are reported as this host has them: a profile or label is refused where they are off.
		aa, se := lsm.AppArmorEnabled(), lsm.SELinuxEnabled()
		feat := features.Features{
			OCIVersionMin: "1.0.0",
			OCIVersionMax: specconv.MaxVersion,
			Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
			MountOptions:  rootfs.KnownOptions(),
			Linux: &features.Linux{
				Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
				Capabilities: capabilities.Names(),
				Cgroup:       &features.Cgroup{V1: &t, V2: &t, Systemd: &t, SystemdUser: &f, Rdma: &t},
				Seccomp:      seccompFeatures(),
				Apparmor:     &features.Apparmor{Enabled: &aa},
				Selinux:      &features.Selinux{Enabled: &se},
				IntelRdt:     &features.IntelRdt{Enabled: &f},
				MountExtensions: &features.MountExtensions{
					IDMap: &features.IDMap{Enabled: &f},
				},
			},
			Annotations: map[string]string{
				"io.github.husk-runtime.husk.version": version,
			},
		}
		if gitCommit != "" {
			feat.Annotations["io.github.husk-runtime.husk.commit"] = gitCommit
		}
		if lib := libseccompVersion(); lib != "" {
			feat.Annotations["io.github.seccomp.libseccomp.version"] = lib
		}
		data, err := json.MarshalIndent(feat, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(os.Stdout, string(data))
		return err
	},
}
