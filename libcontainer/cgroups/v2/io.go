package v2

import (
	"fmt"
	"strconv"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// setIO applies linux.resources.blockIO. The weight goes to io.bfq.weight
// unchanged when the BFQ scheduler offers it, else to io.weight converted
// from the v1 range; per-device weights follow the same rule. Throttles
// become io.max lines, where a rate of 0 means "max" (no limit).
func (s *setter) setIO(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 || len(b.WeightDevice) > 0 && hasLeafWeight(b.WeightDevice) {
		logrus.Warn("cgroup v2 has no blkio leaf weights; ignoring leafWeight")
	}
	weight := uint16(0)
	if b.Weight != nil {
		weight = *b.Weight
	}
	throttles := []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice},
		{"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice},
		{"wiops", b.ThrottleWriteIOPSDevice},
	}
	nThrottle := 0
	for _, t := range throttles {
		nThrottle += len(t.devs)
	}
	nWeightDev := 0
	for _, wd := range b.WeightDevice {
		if wd.Weight != nil && *wd.Weight != 0 {
			nWeightDev++
		}
	}
	if weight == 0 && nThrottle == 0 && nWeightDev == 0 {
		return nil
	}
	if err := s.need("io", "block I/O settings"); err != nil {
		return err
	}
	bfq := common.Exists(s.dir, "io.bfq.weight")
	if weight != 0 {
		if weight < 10 || weight > 1000 {
			return fmt.Errorf("invalid block I/O weight %d: must be 10-1000", weight)
		}
		if err := s.writeWeight(bfq, "", weight); err != nil {
			return err
		}
	}
	for _, wd := range b.WeightDevice {
		if wd.Weight == nil || *wd.Weight == 0 {
			continue
		}
		dev := fmt.Sprintf("%d:%d", wd.Major, wd.Minor)
		if err := s.writeWeight(bfq, dev, *wd.Weight); err != nil {
			return err
		}
	}
	for _, t := range throttles {
		for _, d := range t.devs {
			rate := "max"
			if d.Rate != 0 {
				rate = strconv.FormatUint(d.Rate, 10)
			}
			line := fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, rate)
			if err := s.write("io.max", line); err != nil {
				return fmt.Errorf("block I/O throttle: %w", err)
			}
		}
	}
	return nil
}

func hasLeafWeight(ds []specs.LinuxWeightDevice) bool {
	for _, d := range ds {
		if d.LeafWeight != nil && *d.LeafWeight != 0 {
			return true
		}
	}
	return false
}

// writeWeight writes a default (dev == "") or per-device weight.
func (s *setter) writeWeight(bfq bool, dev string, w uint16) error {
	file, v := "io.weight", strconv.FormatUint(ConvertBlkIOWeightToIOWeight(w), 10)
	if bfq {
		file, v = "io.bfq.weight", strconv.FormatUint(uint64(w), 10)
	} else if !common.Exists(s.dir, "io.weight") {
		return fmt.Errorf("block I/O weight: %s has neither io.bfq.weight nor io.weight (no weight-based I/O control in this kernel)", s.dir)
	}
	if dev != "" {
		v = dev + " " + v
	} else if !bfq {
		v = "default " + v
	}
	return s.write(file, v)
}
