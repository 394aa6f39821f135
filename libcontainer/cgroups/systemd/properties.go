package systemd

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	v2 "github.com/husk-runtime/husk/libcontainer/cgroups/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// AnnotationPrefix marks annotations that are passed to systemd as unit
// properties: "org.systemd.property.TimeoutStopSec" = "30".
const AnnotationPrefix = "org.systemd.property."

// defaultQuotaPeriod is systemd's CPU quota period (100ms) in µs.
const defaultQuotaPeriod = 100000

func prop(name string, value any) sd.Property {
	return sd.Property{Name: name, Value: dbus.MakeVariant(value)}
}

// PropertiesFromAnnotations turns org.systemd.property.<Name> annotations
// into unit properties, as runc does: Name must be at least three ASCII
// letters; the value is in D-Bus GVariant text form ("30", "'foo'",
// "uint64 1000", "['a', 'b']"); a Name ending in "Sec" right after a
// lowercase letter is sent as "<Name-without-Sec>USec" with the value
// converted from seconds to microseconds. The result is sorted by name.
func PropertiesFromAnnotations(annotations map[string]string) ([]sd.Property, error) {
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		if strings.HasPrefix(k, AnnotationPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []sd.Property
	for _, k := range keys {
		v := annotations[k]
		name := strings.TrimPrefix(k, AnnotationPrefix)
		if err := checkPropertyName(name); err != nil {
			return nil, fmt.Errorf("annotation %s: property name %q %w", k, name, err)
		}
		value, err := dbus.ParseVariant(v, dbus.Signature{})
		if err != nil {
			return nil, fmt.Errorf("annotation %s=%s value parse error: %w", k, v, err)
		}
		if base, ok := strings.CutSuffix(name, "Sec"); ok {
			if c := base[len(base)-1]; c >= 'a' && c <= 'z' {
				name = base + "USec"
				if value, err = secToUSec(value); err != nil {
					return nil, fmt.Errorf("annotation %s=%s value parse error: %w", k, v, err)
				}
			}
		}
		out = append(out, sd.Property{Name: name, Value: value})
	}
	return out, nil
}

func checkPropertyName(s string) error {
	if len(s) < 3 {
		return errors.New("is too short")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return errors.New("contains a non-alphabetic character")
		}
	}
	return nil
}

// secToUSec converts a numeric variant holding seconds to a uint64 variant
// holding microseconds.
func secToUSec(v dbus.Variant) (dbus.Variant, error) {
	const m = 1e6
	var f float64
	switch x := v.Value().(type) {
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		return dbus.MakeVariant(x * m), nil
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case float64:
		f = x
	default:
		return v, fmt.Errorf("value %v of type %s is not a number of seconds", v.Value(), v.Signature())
	}
	if f < 0 || math.IsNaN(f) || f*m > math.MaxUint64 {
		return v, fmt.Errorf("value %v is out of range", v.Value())
	}
	return dbus.MakeVariant(uint64(math.Round(f * m))), nil
}

// unitProperties are the properties of the transient unit itself.
func unitProperties(u Unit, pid int) []sd.Property {
	props := []sd.Property{
		sd.PropDescription("husk container " + strings.TrimSuffix(strings.TrimSuffix(u.Name, ".scope"), ".slice")),
		prop("DefaultDependencies", false),
		prop("MemoryAccounting", true),
		prop("CPUAccounting", true),
		prop("IOAccounting", true),
		prop("TasksAccounting", true),
	}
	if u.IsSlice() {
		return append(props, sd.PropWants(u.Slice))
	}
	props = append(props, sd.PropSlice(u.Slice), prop("Delegate", true))
	if pid > 0 {
		props = append(props, sd.PropPids(uint32(pid)))
	}
	return props
}

func maxOr(v int64) uint64 {
	if v < 0 {
		return math.MaxUint64
	}
	return uint64(v)
}

// ResourceProperties converts resources to unit properties (for systemd
// version sdVersion), following the same "zero or nil is unchanged" rule as
// the cgroupfs drivers. What systemd has no property for is left to the
// cgroupfs write that follows.
func ResourceProperties(r *specs.LinuxResources, sdVersion int) ([]sd.Property, error) {
	if r == nil {
		return nil, nil
	}
	var props []sd.Property
	if len(r.Devices) > 0 {
		dp, err := deviceProperties(r.Devices)
		if err != nil {
			return nil, err
		}
		props = append(props, dp...)
	}
	if m := r.Memory; m != nil {
		limit := int64(0)
		if m.Limit != nil {
			limit = *m.Limit
		}
		if limit != 0 {
			props = append(props, prop("MemoryMax", maxOr(limit)))
		}
		if m.Reservation != nil && *m.Reservation != 0 {
			props = append(props, prop("MemoryLow", maxOr(*m.Reservation)))
		}
		swap := int64(0)
		if m.Swap != nil {
			swap = *m.Swap
		}
		if limit != 0 || swap < 0 {
			s, err := v2.ConvertMemorySwapToV2(swap, limit)
			if err != nil {
				return nil, err
			}
			if s != 0 {
				props = append(props, prop("MemorySwapMax", maxOr(s)))
			}
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			props = append(props, prop("CPUWeight", v2.ConvertCPUSharesToWeight(*c.Shares)))
		}
		var quota int64
		var period uint64
		if c.Quota != nil {
			quota = *c.Quota
		}
		if c.Period != nil {
			period = *c.Period
		}
		props = append(props, cpuQuotaProperties(quota, period, sdVersion)...)
		cp, err := cpusetProperties(c.Cpus, c.Mems, sdVersion)
		if err != nil {
			return nil, err
		}
		props = append(props, cp...)
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		v := uint64(math.MaxUint64)
		if *p.Limit > 0 {
			v = uint64(*p.Limit)
		}
		props = append(props, prop("TasksMax", v))
	}
	if b := r.BlockIO; b != nil && b.Weight != nil && *b.Weight != 0 {
		props = append(props, prop("IOWeight", v2.ConvertBlkIOWeightToIOWeight(*b.Weight)))
	}
	up, err := unifiedProperties(r.Unified, sdVersion)
	if err != nil {
		return nil, err
	}
	return append(props, up...), nil
}

// cpuQuotaProperties: CPUQuotaPerSecUSec is quota/period in µs per second,
// rounded up to whole percent (10ms) as systemd stores it; -1 is no limit.
// A zero quota leaves the quota unchanged; a period is sent as
// CPUQuotaPeriodUSec where systemd (>= 242) knows it.
func cpuQuotaProperties(quota int64, period uint64, sdVersion int) []sd.Property {
	var props []sd.Property
	if period != 0 && sdVersion >= 242 {
		props = append(props, prop("CPUQuotaPeriodUSec", period))
	}
	if quota == 0 {
		return props
	}
	perSec := uint64(math.MaxUint64)
	if quota > 0 {
		p := period
		if p == 0 {
			p = defaultQuotaPeriod
		}
		perSec = uint64(quota) * 1000000 / p
		if perSec%10000 != 0 {
			perSec = (perSec/10000 + 1) * 10000
		}
	}
	return append(props, prop("CPUQuotaPerSecUSec", perSec))
}

func cpusetProperties(cpus, mems string, sdVersion int) ([]sd.Property, error) {
	if cpus == "" && mems == "" {
		return nil, nil
	}
	if sdVersion < 244 {
		logrus.Debugf("systemd %d has no AllowedCPUs; cpuset is applied to cgroupfs only", sdVersion)
		return nil, nil
	}
	var props []sd.Property
	for _, x := range []struct{ name, list string }{{"AllowedCPUs", cpus}, {"AllowedMemoryNodes", mems}} {
		if x.list == "" {
			continue
		}
		bits, err := RangeToBits(x.list)
		if err != nil {
			return nil, err
		}
		props = append(props, prop(x.name, bits))
	}
	return props, nil
}

// RangeToBits converts a cpuset list ("0-3,7") to the byte mask systemd
// expects for AllowedCPUs: bit n%8 of byte n/8 is set for each member n.
func RangeToBits(list string) ([]byte, error) {
	var out []byte
	set := func(n uint64) {
		for uint64(len(out)) <= n/8 {
			out = append(out, 0)
		}
		out[n/8] |= 1 << (n % 8)
	}
	for _, part := range strings.Split(strings.TrimSpace(list), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid cpuset list %q: %w", list, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
				return nil, fmt.Errorf("invalid cpuset list %q: %w", list, err)
			}
		}
		if b < a {
			return nil, fmt.Errorf("invalid cpuset list %q: range %s is backwards", list, part)
		}
		for n := a; n <= b; n++ {
			set(n)
		}
	}
	return out, nil
}

// unifiedProperties maps the linux.resources.unified keys systemd has a
// property for; the rest only go to cgroupfs.
func unifiedProperties(u map[string]string, sdVersion int) ([]sd.Property, error) {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	memProps := map[string]string{
		"memory.max": "MemoryMax", "memory.high": "MemoryHigh", "memory.low": "MemoryLow",
		"memory.min": "MemoryMin", "memory.swap.max": "MemorySwapMax", "pids.max": "TasksMax",
	}
	var props []sd.Property
	for _, k := range keys {
		v := strings.TrimSpace(u[k])
		num := func() (uint64, error) {
			if v == "max" {
				return math.MaxUint64, nil
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("unified resource %s=%q: %w", k, v, err)
			}
			return n, nil
		}
		switch name, ok := memProps[k]; {
		case ok:
			n, err := num()
			if err != nil {
				return nil, err
			}
			props = append(props, prop(name, n))
		case k == "cpu.weight":
			n, err := num()
			if err != nil {
				return nil, err
			}
			props = append(props, prop("CPUWeight", n))
		case k == "cpu.max":
			f := strings.Fields(v)
			if len(f) < 1 || len(f) > 2 {
				return nil, fmt.Errorf("unified resource cpu.max=%q: want \"QUOTA [PERIOD]\"", v)
			}
			quota := int64(-1)
			if f[0] != "max" {
				q, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil || q <= 0 {
					return nil, fmt.Errorf("unified resource cpu.max=%q: bad quota", v)
				}
				quota = q
			}
			var period uint64
			if len(f) == 2 {
				p, err := strconv.ParseUint(f[1], 10, 64)
				if err != nil || p == 0 {
					return nil, fmt.Errorf("unified resource cpu.max=%q: bad period", v)
				}
				period = p
			}
			props = append(props, cpuQuotaProperties(quota, period, sdVersion)...)
		case k == "cpuset.cpus" || k == "cpuset.mems":
			cpus, mems := v, ""
			if k == "cpuset.mems" {
				cpus, mems = "", v
			}
			cp, err := cpusetProperties(cpus, mems, sdVersion)
			if err != nil {
				return nil, err
			}
			props = append(props, cp...)
		default:
			logrus.Debugf("no systemd property for unified resource %q; it is applied to cgroupfs only", k)
		}
	}
	return props, nil
}

// deviceAllow is one DeviceAllow entry, D-Bus signature (ss).
type deviceAllow struct {
	Path  string
	Perms string
}

// deviceProperties converts device rules to DevicePolicy and DeviceAllow.
// systemd only knows allow-lists: an allow-all policy becomes
// DevicePolicy=auto with no entries; a deny-list with exceptions becomes a
// temporary deny-all (strict) that the eBPF program written right after
// replaces, as runc does.
func deviceProperties(rules []specs.LinuxDeviceCgroup) ([]sd.Property, error) {
	p, err := v2.ComputeDevicePolicy(rules)
	if err != nil {
		return nil, err
	}
	if p.IsAllowAll() {
		return []sd.Property{prop("DevicePolicy", "auto"), prop("DeviceAllow", []deviceAllow{})}, nil
	}
	entries := []deviceAllow{}
	if p.DefaultAllow {
		logrus.Warn("systemd has no deny-list device rules; its unit gets deny-all, and husk's own device program enforces the real rules")
	} else {
		for _, e := range p.Exceptions {
			path, err := deviceAllowPath(e)
			if err != nil {
				logrus.Warnf("device rule %q has no systemd DeviceAllow form (%v); enforced by husk's device program only", e, err)
				continue
			}
			entries = append(entries, deviceAllow{Path: path, Perms: e.AccessString()})
		}
	}
	return []sd.Property{prop("DevicePolicy", "strict"), prop("DeviceAllow", entries)}, nil
}

// deviceAllowPath names a device rule the way DeviceAllow= accepts it:
// "/dev/char/M:N", "char-<group>" for a whole major from /proc/devices,
// or "char-*"/"block-*" for every device of a type.
func deviceAllowPath(e v2.DeviceRule) (string, error) {
	kind := "char"
	if e.Type == 'b' {
		kind = "block"
	}
	switch {
	case e.Major == v2.Wildcard && e.Minor == v2.Wildcard:
		return kind + "-*", nil
	case e.Major == v2.Wildcard:
		return "", errors.New("systemd has no '*:N' device rules")
	case e.Minor == v2.Wildcard:
		group, err := deviceGroup(kind, e.Major)
		if err != nil {
			return "", err
		}
		return kind + "-" + group, nil
	default:
		return fmt.Sprintf("/dev/%s/%d:%d", kind, e.Major, e.Minor), nil
	}
}

// deviceGroup finds the driver name of a major number in /proc/devices.
func deviceGroup(kind string, major int64) (string, error) {
	b, err := os.ReadFile("/proc/devices")
	if err != nil {
		return "", err
	}
	section := "Character devices:"
	if kind == "block" {
		section = "Block devices:"
	}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasSuffix(line, "devices:") {
			in = line == section
			continue
		}
		f := strings.Fields(line)
		if in && len(f) == 2 && f[0] == strconv.FormatInt(major, 10) {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("no %s device group with major %d in /proc/devices", kind, major)
}
