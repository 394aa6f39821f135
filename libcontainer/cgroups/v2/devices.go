package v2

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Device access bits, as the kernel's bpf_cgroup_dev_ctx encodes them.
const (
	AccessMknod uint8 = 1
	AccessRead  uint8 = 2
	AccessWrite uint8 = 4
	accessAll         = AccessMknod | AccessRead | AccessWrite
)

// Wildcard is the major or minor number that matches every device.
const Wildcard int64 = -1

// DeviceRule is one normalized device exception: type 'b' or 'c', a major
// and minor number (Wildcard for any) and the access bits it covers.
type DeviceRule struct {
	Type   byte
	Major  int64
	Minor  int64
	Access uint8
}

// AccessString returns the access bits as "rwm" letters.
func (r DeviceRule) AccessString() string {
	var b strings.Builder
	if r.Access&AccessRead != 0 {
		b.WriteByte('r')
	}
	if r.Access&AccessWrite != 0 {
		b.WriteByte('w')
	}
	if r.Access&AccessMknod != 0 {
		b.WriteByte('m')
	}
	return b.String()
}

func (r DeviceRule) String() string {
	num := func(n int64) string {
		if n == Wildcard {
			return "*"
		}
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.AccessString())
}

func (r DeviceRule) sameDevice(o DeviceRule) bool {
	return r.Type == o.Type && r.Major == o.Major && r.Minor == o.Minor
}

// DevicePolicy is the effective device access policy after applying the
// spec's rules in order with the cgroup v1 devices controller's semantics:
// a default (allow or deny everything) and exceptions to it. A request is
// allowed under a deny default when one exception covers all its access
// bits; it is denied under an allow default when any exception shares an
// access bit with it.
type DevicePolicy struct {
	DefaultAllow bool
	Exceptions   []DeviceRule
}

// IsAllowAll reports whether the policy allows every device.
func (p *DevicePolicy) IsAllowAll() bool {
	return p.DefaultAllow && len(p.Exceptions) == 0
}

// ComputeDevicePolicy applies rules in order to a deny-all starting point,
// the way the v1 devices controller would: "a *:* rwm" resets the default
// and drops every exception; a rule opposite to the default adds an
// exception; a rule equal to the default removes access from the exception
// for exactly that device. Removing access that a wildcard exception grants
// is an error, since the kernel would silently keep it.
func ComputeDevicePolicy(rules []specs.LinuxDeviceCgroup) (*DevicePolicy, error) {
	p := &DevicePolicy{}
	for _, sr := range rules {
		rs, all, err := parseDeviceRule(sr)
		if err != nil {
			return nil, err
		}
		if all {
			p.DefaultAllow = sr.Allow
			p.Exceptions = nil
			continue
		}
		for _, r := range rs {
			if sr.Allow != p.DefaultAllow {
				p.add(r)
			} else if err := p.remove(r); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func (p *DevicePolicy) add(r DeviceRule) {
	for i := range p.Exceptions {
		if p.Exceptions[i].sameDevice(r) {
			p.Exceptions[i].Access |= r.Access
			return
		}
	}
	p.Exceptions = append(p.Exceptions, r)
}

func (p *DevicePolicy) remove(r DeviceRule) error {
	out := p.Exceptions[:0]
	for _, e := range p.Exceptions {
		if e.sameDevice(r) {
			e.Access &^= r.Access
			if e.Access == 0 {
				continue
			}
		} else if e.Type == r.Type && e.Access&r.Access != 0 &&
			(e.Major == Wildcard || e.Major == r.Major) && (e.Minor == Wildcard || e.Minor == r.Minor) {
			return fmt.Errorf("device rule %q cannot be removed from the wider rule %q (device cgroup semantics cannot punch holes in a wildcard rule)", r, e)
		}
		out = append(out, e)
	}
	p.Exceptions = out
	return nil
}

// parseDeviceRule validates one spec rule. It reports all for "a *:* rwm";
// otherwise it returns the rule for 'c' and 'b' (type 'a' is expanded to
// both).
func parseDeviceRule(d specs.LinuxDeviceCgroup) ([]DeviceRule, bool, error) {
	typ := d.Type
	if typ == "" {
		typ = "a"
	}
	if typ != "a" && typ != "b" && typ != "c" {
		return nil, false, fmt.Errorf("invalid device rule type %q: want a, b or c", d.Type)
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	var bits uint8
	for _, c := range access {
		var bit uint8
		switch c {
		case 'r':
			bit = AccessRead
		case 'w':
			bit = AccessWrite
		case 'm':
			bit = AccessMknod
		default:
			return nil, false, fmt.Errorf("invalid device rule access %q: want letters from rwm", d.Access)
		}
		if bits&bit != 0 {
			return nil, false, fmt.Errorf("invalid device rule access %q: repeated letter", d.Access)
		}
		bits |= bit
	}
	num := func(p *int64, what string) (int64, error) {
		if p == nil || *p == Wildcard {
			return Wildcard, nil
		}
		if *p < 0 || *p > 0xffffffff {
			return 0, fmt.Errorf("invalid device rule %s %d", what, *p)
		}
		return *p, nil
	}
	major, err := num(d.Major, "major")
	if err != nil {
		return nil, false, err
	}
	minor, err := num(d.Minor, "minor")
	if err != nil {
		return nil, false, err
	}
	if typ == "a" {
		if major == Wildcard && minor == Wildcard && bits == accessAll {
			return nil, true, nil
		}
		return []DeviceRule{{'c', major, minor, bits}, {'b', major, minor, bits}}, false, nil
	}
	return []DeviceRule{{typ[0], major, minor, bits}}, false, nil
}
