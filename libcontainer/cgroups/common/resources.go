package common

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Deref returns *p, or the zero value when p is nil (an absent
// linux.resources field reads as zero, "leave unchanged").
func Deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// PidsMax returns the pids.max value for linux.resources.pids.limit: -1 and
// 0 mean "max" (runc's reading of the field), a positive value is the
// limit. The file is the same on cgroup v1 and v2.
func PidsMax(limit int64) string {
	if limit > 0 {
		return strconv.FormatInt(limit, 10)
	}
	return "max"
}

// WriteRdmaLimits writes one rdma.max line in dir per device of
// linux.resources.rdma, in device order: "<dev> hca_handle=N hca_object=N"
// with only the counts given. A device without any count is skipped (its
// limits stay unchanged). The file is the same on cgroup v1 and v2.
func WriteRdmaLimits(dir string, rdma map[string]specs.LinuxRdma) error {
	devs := make([]string, 0, len(rdma))
	for dev := range rdma {
		devs = append(devs, dev)
	}
	sort.Strings(devs)
	for _, dev := range devs {
		if dev == "" || strings.ContainsAny(dev, " \n") {
			return fmt.Errorf("invalid rdma device name %q", dev)
		}
		l := rdma[dev]
		line := dev
		if l.HcaHandles != nil {
			line += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			line += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		if line == dev {
			continue
		}
		if err := WriteFile(dir, "rdma.max", line); err != nil {
			return err
		}
	}
	return nil
}

// WriteHugetlbLimits writes each limit to hugetlb.<size>.<knob> in dir, and
// to hugetlb.<size>.rsvd.<knob> where the kernel has that file. The knob is
// the limit file's suffix: "limit_in_bytes" on cgroup v1, "max" on v2 (both
// hold a byte count). A page size the kernel does not offer is an error.
func WriteHugetlbLimits(dir string, limits []specs.LinuxHugepageLimit, knob string) error {
	for _, h := range limits {
		if h.Pagesize == "" || strings.ContainsAny(h.Pagesize, "/.") {
			return fmt.Errorf("invalid hugepage size %q", h.Pagesize)
		}
		file := "hugetlb." + h.Pagesize + "." + knob
		if !Exists(dir, file) {
			return fmt.Errorf("hugepage size %s is not supported (no %s)", h.Pagesize, file)
		}
		v := strconv.FormatUint(h.Limit, 10)
		if err := WriteFile(dir, file, v); err != nil {
			return err
		}
		rsvd := "hugetlb." + h.Pagesize + ".rsvd." + knob
		if Exists(dir, rsvd) {
			if err := WriteFile(dir, rsvd, v); err != nil {
				return err
			}
		}
	}
	return nil
}
