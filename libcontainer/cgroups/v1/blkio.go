package v1

import (
	"fmt"
	"strconv"

	"github.com/husk-runtime/husk/libcontainer/cgroups/common"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// weightFile picks blkio.<name> (CFQ) or, on kernels that only have BFQ,
// blkio.bfq.<name>; "" when neither exists.
func weightFile(d, name string) string {
	for _, f := range []string{"blkio." + name, "blkio.bfq." + name} {
		if common.Exists(d, f) {
			return f
		}
	}
	return ""
}

// setBlkio applies linux.resources.blockIO: weights (zero = unchanged),
// per-device weights and throttles (each listed device is written; a rate
// of 0 removes that device's throttle, as the kernel defines).
func (m *Manager) setBlkio(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	weight, leaf := uint16(0), uint16(0)
	if b.Weight != nil {
		weight = *b.Weight
	}
	if b.LeafWeight != nil {
		leaf = *b.LeafWeight
	}
	if weight == 0 && leaf == 0 && len(b.WeightDevice) == 0 && len(b.ThrottleReadBpsDevice) == 0 &&
		len(b.ThrottleWriteBpsDevice) == 0 && len(b.ThrottleReadIOPSDevice) == 0 && len(b.ThrottleWriteIOPSDevice) == 0 {
		return nil
	}
	d, err := m.need("blkio", "block I/O settings")
	if err != nil {
		return err
	}
	if weight != 0 {
		f := weightFile(d, "weight")
		if f == "" {
			return fmt.Errorf("block I/O weight %d: this kernel has neither blkio.weight nor blkio.bfq.weight", weight)
		}
		if err := common.WriteFile(d, f, strconv.FormatUint(uint64(weight), 10)); err != nil {
			return err
		}
	}
	if leaf != 0 {
		if !common.Exists(d, "blkio.leaf_weight") {
			return fmt.Errorf("block I/O leaf weight %d: this kernel has no blkio.leaf_weight", leaf)
		}
		if err := common.WriteFile(d, "blkio.leaf_weight", strconv.FormatUint(uint64(leaf), 10)); err != nil {
			return err
		}
	}
	for _, wd := range b.WeightDevice {
		if wd.Weight != nil {
			f := weightFile(d, "weight_device")
			if f == "" {
				return fmt.Errorf("block I/O weight for device %d:%d: this kernel has no blkio.weight_device", wd.Major, wd.Minor)
			}
			if err := common.WriteFile(d, f, fmt.Sprintf("%d:%d %d", wd.Major, wd.Minor, *wd.Weight)); err != nil {
				return err
			}
		}
		if wd.LeafWeight != nil {
			if !common.Exists(d, "blkio.leaf_weight_device") {
				return fmt.Errorf("block I/O leaf weight for device %d:%d: this kernel has no blkio.leaf_weight_device", wd.Major, wd.Minor)
			}
			if err := common.WriteFile(d, "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", wd.Major, wd.Minor, *wd.LeafWeight)); err != nil {
				return err
			}
		}
	}
	throttles := []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	}
	for _, t := range throttles {
		for _, td := range t.devs {
			if err := common.WriteFile(d, t.file, fmt.Sprintf("%d:%d %d", td.Major, td.Minor, td.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}
