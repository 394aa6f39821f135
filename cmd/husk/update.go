package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"
)

var updateCommand = cli.Command{
	Name:      "update",
	Usage:     "update container resource constraints",
	ArgsUsage: `<container-id>`,
	Flags: []cli.Flag{
		cli.StringFlag{
			Name: "resources, r",
			Usage: `path to the file containing the resources to update or '-' to read from the standard input

The accepted format is as follow (unchanged values can be omitted):

{
  "memory": {
    "limit": 0,
    "reservation": 0,
    "swap": 0
  },
  "cpu": {
    "shares": 0,
    "quota": 0,
    "period": 0,
    "realtimeRuntime": 0,
    "realtimePeriod": 0,
    "cpus": "",
    "mems": ""
  },
  "blockIO": {
    "weight": 0
  }
}

Note: if data is to be read from a file or the standard input, all
other options are ignored.`,
		},
		cli.UintFlag{Name: "blkio-weight", Usage: "Specifies per cgroup weight, range is from 10 to 1000"},
		cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default"},
		cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"},
		cli.StringFlag{Name: "cpu-burst", Usage: "CPU CFS burst limit (in usecs). Allowed accumulated cpu time above the quota", Hidden: true},
		cli.StringFlag{Name: "cpu-share", Usage: "CPU shares (relative weight vs. other containers)"},
		cli.StringFlag{Name: "cpu-rt-period", Usage: "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default"},
		cli.StringFlag{Name: "cpu-rt-runtime", Usage: "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period"},
		cli.StringFlag{Name: "cpuset-cpus", Usage: "CPU(s) to use"},
		cli.StringFlag{Name: "cpuset-mems", Usage: "Memory node(s) to use"},
		cli.StringFlag{Name: "kernel-memory", Usage: "(obsoleted; do not use)", Hidden: true},
		cli.StringFlag{Name: "kernel-memory-tcp", Usage: "(obsoleted; do not use)", Hidden: true},
		cli.StringFlag{Name: "memory", Usage: "Memory limit (in bytes)"},
		cli.StringFlag{Name: "memory-reservation", Usage: "Memory reservation or soft_limit (in bytes)"},
		cli.StringFlag{Name: "memory-swap", Usage: "Total memory usage (memory + swap); set '-1' to enable unlimited swap"},
		cli.IntFlag{Name: "pids-limit", Usage: "Maximum number of pids allowed in the container"},
		cli.StringFlag{Name: "l3-cache-schema", Usage: "The string of Intel RDT/CAT L3 cache schema"},
		cli.StringFlag{Name: "mem-bw-schema", Usage: "The string of Intel RDT/MBA memory bandwidth schema"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, exactArgs); err != nil {
			return err
		}
		c, err := getContainer(ctx)
		if err != nil {
			return err
		}
		var r *specs.LinuxResources
		if in := ctx.String("resources"); in != "" {
			if r, err = readResources(in); err != nil {
				return err
			}
		} else if r, err = resourcesFromFlags(ctx); err != nil {
			return err
		}
		// husk has no Intel RDT support, so any schema is refused (runc's texts).
		if ctx.String("l3-cache-schema") != "" {
			return errors.New("Intel RDT/CAT: l3 cache schema is not enabled")
		}
		if ctx.String("mem-bw-schema") != "" {
			return errors.New("Intel RDT/MBA: memory bandwidth schema is not enabled")
		}
		if m := r.Memory; m != nil && ((m.Kernel != nil && *m.Kernel != 0) || (m.KernelTCP != nil && *m.KernelTCP != 0)) {
			logrus.Warn("Kernel memory settings are ignored and will be removed")
			m.Kernel, m.KernelTCP = nil, nil
		}
		return c.Update(r)
	},
}

// readResources decodes LinuxResources JSON from path, or stdin for "-".
func readResources(path string) (*specs.LinuxResources, error) {
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	r := new(specs.LinuxResources)
	if err := json.NewDecoder(in).Decode(r); err != nil {
		return nil, fmt.Errorf("decode resources: %w", err)
	}
	return r, nil
}

// resourcesFromFlags builds the update from the command-line flags; a flag
// that is not given stays nil (unchanged).
func resourcesFromFlags(ctx *cli.Context) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{},
		CPU:     &specs.LinuxCPU{},
		BlockIO: &specs.LinuxBlockIO{},
		Pids:    &specs.LinuxPids{},
	}
	if ctx.IsSet("blkio-weight") {
		w := ctx.Uint("blkio-weight")
		if w > math.MaxUint16 {
			return nil, fmt.Errorf("invalid value for blkio-weight: %d out of range", w)
		}
		v := uint16(w)
		r.BlockIO.Weight = &v
	}
	r.CPU.Cpus = ctx.String("cpuset-cpus")
	r.CPU.Mems = ctx.String("cpuset-mems")
	for _, f := range []struct {
		name string
		dst  **uint64
	}{
		{"cpu-period", &r.CPU.Period},
		{"cpu-rt-period", &r.CPU.RealtimePeriod},
		{"cpu-share", &r.CPU.Shares},
		{"cpu-burst", &r.CPU.Burst},
	} {
		if val := ctx.String(f.name); val != "" {
			v, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("invalid value for %s: %w", f.name, err)
			}
			*f.dst = &v
		}
	}
	for _, f := range []struct {
		name string
		dst  **int64
	}{
		{"cpu-quota", &r.CPU.Quota},
		{"cpu-rt-runtime", &r.CPU.RealtimeRuntime},
	} {
		if val := ctx.String(f.name); val != "" {
			v, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("invalid value for %s: %w", f.name, err)
			}
			*f.dst = &v
		}
	}
	for _, f := range []struct {
		name string
		dst  **int64
	}{
		{"memory", &r.Memory.Limit},
		{"memory-reservation", &r.Memory.Reservation},
		{"memory-swap", &r.Memory.Swap},
		{"kernel-memory", &r.Memory.Kernel},
		{"kernel-memory-tcp", &r.Memory.KernelTCP},
	} {
		if val := ctx.String(f.name); val != "" {
			v := int64(-1)
			if val != "-1" {
				var err error
				if v, err = ramInBytes(val); err != nil {
					return nil, fmt.Errorf("invalid value for %s: %w", f.name, err)
				}
			}
			*f.dst = &v
		}
	}
	if ctx.IsSet("pids-limit") {
		v := int64(ctx.Int("pids-limit"))
		r.Pids.Limit = &v
	}
	return r, nil
}

// ramInBytes parses a human-readable size as runc (docker's units package)
// does: a decimal number, an optional space, then an optional unit k, m, g,
// t or p (binary multiples, any case), optionally followed by "i" and/or
// "b" ("256m", "1.5GiB", "100kb", "4096").
func ramInBytes(s string) (int64, error) {
	bad := fmt.Errorf("invalid size: '%s'", s)
	num := s
	if n := len(num); n > 0 && (num[n-1] == 'b' || num[n-1] == 'B') {
		num = num[:n-1]
	}
	if n := len(num); n > 0 && (num[n-1] == 'i' || num[n-1] == 'I') {
		num = num[:n-1]
	}
	mult := 1.0
	if n := len(num); n > 0 {
		if i := strings.IndexByte("kmgtp", lower(num[n-1])); i >= 0 {
			num = num[:n-1]
			mult = math.Pow(1024, float64(i+1))
		}
	}
	num = strings.TrimSuffix(num, " ")
	if !isDecimal(num) {
		return 0, bad
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err // "1.2.3" passes the shape check, as with runc
	}
	if f*mult >= math.MaxInt64 {
		return 0, bad
	}
	return int64(f * mult), nil
}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// isDecimal accepts groups of digits separated by single dots ("1",
// "1.5"; also "1.2.3", which ParseFloat then refuses).
func isDecimal(s string) bool {
	for _, p := range strings.Split(s, ".") {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}
