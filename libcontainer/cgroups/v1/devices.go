package v1

import (
	"fmt"
	"strings"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setDevices writes linux.resources.devices in order, each rule to
// devices.allow or devices.deny. A rule for all devices with all access
// ("a *:* rwm") is written as "a", which in devices.deny empties the
// allow-list and in devices.allow allows everything; the usual list (deny
// all, then allows) therefore ends with exactly the listed allows. An empty
// list leaves the current rules unchanged.
func (m *Manager) setDevices(r *specs.LinuxResources) error {
	if len(r.Devices) == 0 {
		return nil
	}
	lines := make([]struct{ file, rule string }, 0, len(r.Devices))
	for _, d := range r.Devices {
		rules, err := deviceRules(d)
		if err != nil {
			return err
		}
		file := "devices.deny"
		if d.Allow {
			file = "devices.allow"
		}
		for _, rule := range rules {
			lines = append(lines, struct{ file, rule string }{file, rule})
		}
	}
	dir, err := m.need("devices", "device rules")
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := common.WriteFile(dir, l.file, l.rule); err != nil {
			return fmt.Errorf("device rule: %w", err)
		}
	}
	return nil
}

// deviceRules converts one spec rule to the kernel's "type major:minor
// access" lines. Type "a" with wildcards and full access becomes "a"; type
// "a" with anything narrower is expanded to the same rule for "c" and "b",
// since the kernel ignores everything after an "a".
func deviceRules(d specs.LinuxDeviceCgroup) ([]string, error) {
	typ := d.Type
	if typ == "" {
		typ = "a"
	}
	if typ != "a" && typ != "b" && typ != "c" {
		return nil, fmt.Errorf("invalid device rule type %q: want a, b or c", d.Type)
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	seen := map[rune]bool{}
	for _, c := range access {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return nil, fmt.Errorf("invalid device rule access %q: want letters from rwm", d.Access)
		}
		seen[c] = true
	}
	major, minor := "*", "*"
	if d.Major != nil {
		if *d.Major < 0 {
			if *d.Major != -1 {
				return nil, fmt.Errorf("invalid device rule major %d", *d.Major)
			}
		} else {
			major = fmt.Sprint(*d.Major)
		}
	}
	if d.Minor != nil {
		if *d.Minor < 0 {
			if *d.Minor != -1 {
				return nil, fmt.Errorf("invalid device rule minor %d", *d.Minor)
			}
		} else {
			minor = fmt.Sprint(*d.Minor)
		}
	}
	if typ == "a" {
		if major == "*" && minor == "*" && len(access) == 3 {
			return []string{"a"}, nil
		}
		return []string{
			fmt.Sprintf("c %s:%s %s", major, minor, access),
			fmt.Sprintf("b %s:%s %s", major, minor, access),
		}, nil
	}
	return []string{fmt.Sprintf("%s %s:%s %s", typ, major, minor, access)}, nil
}
