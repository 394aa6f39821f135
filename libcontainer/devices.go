package libcontainer

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func devRule(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
	if major >= 0 {
		r.Major = &major
	}
	if minor >= 0 {
		r.Minor = &minor
	}
	return r
}

// defaultAllowedDevices are allowed in every container after the spec's own rules, as runc does: mknod of
// anything (creating a node is harmless; using it is what the rules control), the standard character
// devices, the pty multiplexer and ptys, and tun/tap.
var defaultAllowedDevices = []specs.LinuxDeviceCgroup{
	devRule("c", -1, -1, "m"),
	devRule("b", -1, -1, "m"),
	devRule("c", 1, 3, "rwm"),    // /dev/null
	devRule("c", 1, 8, "rwm"),    // /dev/random
	devRule("c", 1, 7, "rwm"),    // /dev/full
	devRule("c", 5, 0, "rwm"),    // /dev/tty
	devRule("c", 1, 5, "rwm"),    // /dev/zero
	devRule("c", 1, 9, "rwm"),    // /dev/urandom
	devRule("c", 136, -1, "rwm"), // /dev/pts/*
	devRule("c", 5, 2, "rwm"),    // /dev/ptmx
	devRule("c", 10, 200, "rwm"), // /dev/net/tun
}

// cgroupResources is the resources to apply at create: the spec's, with the default device allow-list and
// an allow rule for each device the spec asks to create appended to the device rules. Rootless, the
// device cgroup is never ours to program: the spec's rules are kept (and refused with a warning) but
// no defaults are added.
func cgroupResources(spec *specs.Spec, rootless bool) *specs.LinuxResources {
	var res specs.LinuxResources
	if spec.Linux == nil {
		return nil
	}
	if spec.Linux.Resources != nil {
		res = *spec.Linux.Resources
	}
	rules := append([]specs.LinuxDeviceCgroup(nil), res.Devices...)
	if rootless {
		res.Devices = rules
		return &res
	}
	rules = append(rules, defaultAllowedDevices...)
	for _, d := range spec.Linux.Devices {
		if d.Type == "p" {
			continue
		}
		typ := d.Type
		if typ == "u" {
			typ = "c"
		}
		rules = append(rules, devRule(typ, d.Major, d.Minor, "rwm"))
	}
	res.Devices = rules
	return &res
}
