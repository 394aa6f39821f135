// Command huskbench measures husk beside runc, crun and a C floor program,
// interleaved (husk, runc, crun, floor, husk, …) so the machine's noise hits
// every runtime alike, and writes a table of medians, p90s and ratios to
// husk. scripts/bench.sh builds it and runs it inside a private mount
// namespace where /sys/fs/cgroup/unified is hidden (crun refuses this host's
// hybrid cgroup layout otherwise); see docs/performance.md for the method.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// memLimits are the memory (and memory+swap) limits of the small-limit
// scenario.
var memLimits = []int64{512 << 10, 1 << 20, 2 << 20, 4 << 20}

// report is results.json.
type report struct {
	Started    time.Time     `json:"started"`
	Seconds    float64       `json:"seconds"`
	Iterations int           `json:"iterations"`
	Kernel     string        `json:"kernel"`
	CPUs       int           `json:"cpus"`
	Runtimes   []contender   `json:"runtimes"`
	Results    []*series     `json:"results"`
	MemLimit   []memLimitRow `json:"memory_limit"`
	Leftovers  []string      `json:"leftovers,omitempty"`
}

type config struct {
	husk, runc, crun, floor, strace string
	rsswrap                         string
	busybox, seccomp, out, state    string
	n                               int
	timeout                         time.Duration
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "huskbench: %v\n", err)
		os.Exit(1)
	}
}

func defaultN() int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_N")); err == nil && v > 0 {
		return v
	}
	return 30
}

func parseFlags() config {
	var cfg config
	flag.StringVar(&cfg.husk, "husk", "bin/husk", "husk binary")
	flag.StringVar(&cfg.runc, "runc", "/usr/sbin/runc", "runc binary")
	flag.StringVar(&cfg.crun, "crun", "/usr/bin/crun", "crun binary")
	flag.StringVar(&cfg.floor, "floor", "build/bench/floor", "floor binary (bench/floor/floor.c)")
	flag.StringVar(&cfg.rsswrap, "rsswrap", "build/bench/rsswrap", "rsswrap binary (bench/rsswrap/rsswrap.c)")
	flag.StringVar(&cfg.strace, "strace", "/usr/bin/strace", "strace binary")
	flag.StringVar(&cfg.busybox, "busybox", "/bin/busybox", "static busybox for the rootfs")
	flag.StringVar(&cfg.seccomp, "seccomp", "tests/fixtures/seccomp/default.json", "seccomp profile of the typical bundle")
	flag.StringVar(&cfg.out, "out", "build/bench", "output directory (bundles, results)")
	flag.StringVar(&cfg.state, "state", "build/bench/state", "parent of the runtimes' --root directories")
	flag.IntVar(&cfg.n, "n", defaultN(), "iterations (default: $BENCH_N or 30)")
	flag.DurationVar(&cfg.timeout, "timeout", 60*time.Second, "limit for any one command")
	flag.Parse()
	return cfg
}

func absAll(paths ...*string) error {
	for _, p := range paths {
		a, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("path %s: %w", *p, err)
		}
		*p = a
	}
	return nil
}

func firstLine(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func run() error {
	cfg := parseFlags()
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root")
	}
	if err := absAll(&cfg.husk, &cfg.runc, &cfg.crun, &cfg.floor, &cfg.rsswrap, &cfg.strace, &cfg.out, &cfg.state, &cfg.seccomp); err != nil {
		return err
	}
	started := time.Now()

	// Everything that uses os/exec happens before the reaper starts: its
	// wait4(-1) would take those children away from os/exec.
	bundles, err := buildBundles(cfg.out, cfg.husk, cfg.busybox, cfg.seccomp)
	if err != nil {
		return err
	}
	cs := []contender{
		{Name: "husk", Bin: cfg.husk, Version: firstLine(cfg.husk, "--version")},
		{Name: "runc", Bin: cfg.runc, Version: firstLine(cfg.runc, "--version")},
		{Name: "crun", Bin: cfg.crun, Version: firstLine(cfg.crun, "--version")},
		{Name: "floor", Bin: cfg.floor, Floor: true, Version: "bench/floor/floor.c"},
	}
	for i := range cs {
		if cs[i].Floor {
			continue
		}
		cs[i].Root = filepath.Join(cfg.state, cs[i].Name)
		if err := os.MkdirAll(cs[i].Root, 0o700); err != nil {
			return fmt.Errorf("state root: %w", err)
		}
	}
	r, err := newReaper(filepath.Join(cfg.out, "tmp"))
	if err != nil {
		return err
	}
	b := &bench{r: r, bundles: bundles, cs: cs, res: newResults(), timeout: cfg.timeout, outDir: cfg.out, rsswrap: cfg.rsswrap}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "huskbench: interrupted; cleaning up (again to abort)")
		b.stopping.Store(true)
		<-sigs
		os.Exit(130)
	}()

	b.measure(cfg)
	memRows := b.memLimitScenario()
	leftovers := b.cleanup(cfg)

	rep := report{
		Started: started, Seconds: time.Since(started).Seconds(), Iterations: cfg.n,
		Kernel: readTrim("/proc/sys/kernel/osrelease"), CPUs: runtime.NumCPU(),
		Runtimes: cs, Results: b.res.finalize(), MemLimit: memRows, Leftovers: leftovers,
	}
	return writeReport(cfg.out, rep)
}

// measure runs the interleaved iterations, then the once-only strace counts.
func (b *bench) measure(cfg config) {
	kinds := []string{kindMinimal, kindTypical}
	for i := 0; i < cfg.n && !b.stopping.Load(); i++ {
		fmt.Fprintf(os.Stderr, "huskbench: iteration %d/%d\n", i+1, cfg.n)
		for _, kind := range kinds {
			for _, op := range []struct {
				fn    func(string, contender)
				floor bool // the floor takes part
			}{{b.opRunOnce, true}, {b.opLifecycle, false}, {b.opParallel, true}} {
				for _, c := range b.cs {
					if b.stopping.Load() {
						return
					}
					if c.Floor && !op.floor {
						continue
					}
					op.fn(kind, c)
				}
			}
		}
		b.opSeccomp(b.cs[0])
	}
	b.busyHost(cfg.n)
	for _, kind := range kinds {
		for _, c := range b.cs {
			if b.stopping.Load() {
				return
			}
			b.opStrace(cfg.strace, kind, c)
		}
	}
}

// memLimitScenario tries /bin/true under each small memory limit.
func (b *bench) memLimitScenario() []memLimitRow {
	var rows []memLimitRow
	for _, limit := range memLimits {
		for _, c := range b.cs {
			if c.Floor || b.stopping.Load() {
				continue
			}
			rows = append(rows, b.opMemLimit(c, limit))
		}
	}
	return rows
}

// cleanup deletes any container still known, removes per-container bundles,
// the state roots' contents and the benchmark's cgroups, and returns what
// could not be removed.
func (b *bench) cleanup(cfg config) []string {
	for id := range b.live.all() {
		b.forceDelete(id)
	}
	left := removeCgroups(fmt.Sprintf("hb%d-", os.Getpid()))
	for _, dir := range []string{filepath.Join(cfg.out, "run"), filepath.Join(cfg.out, "tmp")} {
		if err := os.RemoveAll(dir); err != nil {
			left = append(left, err.Error())
		}
	}
	for _, c := range b.cs {
		if c.Root == "" {
			continue
		}
		entries, _ := os.ReadDir(c.Root)
		for _, e := range entries {
			if e.Name() != ".seccomp-cache" {
				left = append(left, fmt.Sprintf("%s state: %s", c.Name, e.Name()))
			}
		}
		if err := os.RemoveAll(c.Root); err != nil {
			left = append(left, err.Error())
		}
	}
	for _, l := range left {
		fmt.Fprintf(os.Stderr, "huskbench: left behind: %s\n", l)
	}
	return left
}

func readTrim(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}

// removeCgroups removes the cgroup directories named prefix* that the
// runtimes left in any v1 hierarchy (at most 4 levels deep), then
// /husk-bench when it is empty. /sys/fs/cgroup/unified is skipped: in the
// benchmark's mount namespace it is a tmpfs that hides the real one.
func removeCgroups(prefix string) []string {
	var left, found, parents []string
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		if filepath.Base(h) == "unified" {
			continue
		}
		depth0 := strings.Count(h, "/")
		filepath.WalkDir(h, func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.HasPrefix(d.Name(), prefix) {
				found = append(found, path)
				return filepath.SkipDir
			}
			if strings.Count(path, "/")-depth0 >= 4 {
				return filepath.SkipDir
			}
			return nil
		})
		parents = append(parents, h+cgroupParent)
	}
	for _, p := range found {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			left = append(left, fmt.Sprintf("cgroup %s: %v", p, err))
		}
	}
	for _, p := range parents {
		os.Remove(p) // only when empty: another user of /husk-bench keeps it
	}
	return left
}

// writeReport prints the table and writes results.json and results.txt.
func writeReport(out string, rep report) error {
	names := make([]string, 0, len(rep.Runtimes))
	for _, c := range rep.Runtimes {
		names = append(names, c.Name)
	}
	var txt strings.Builder
	fmt.Fprintf(&txt, "huskbench: %d iterations, kernel %s, %d CPUs, %s, %.0f s\n",
		rep.Iterations, rep.Kernel, rep.CPUs, rep.Started.UTC().Format(time.RFC3339), rep.Seconds)
	for _, c := range rep.Runtimes {
		fmt.Fprintf(&txt, "  %-5s %s (%s)\n", c.Name, c.Bin, c.Version)
	}
	txt.WriteString("\nms unless noted; ratio = runtime median / husk median (below 1: faster than husk)\n\n")
	txt.WriteString(formatTable(rep.Results, names))
	if len(rep.MemLimit) > 0 {
		txt.WriteString("\n/bin/true with memory.limit = memory+swap limit = L (minimal bundle):\n")
		for _, m := range rep.MemLimit {
			status := "ok"
			if !m.OK {
				status = "FAIL: " + m.Error
			}
			fmt.Fprintf(&txt, "  %-5s L=%5d KiB  %s\n", m.Runtime, m.LimitKiB, status)
		}
	}
	var errs []string
	for _, s := range rep.Results {
		for _, e := range s.Errors {
			errs = append(errs, fmt.Sprintf("  %s %s %s: %s", s.Runtime, s.Op, s.Bundle, e))
		}
	}
	if len(errs) > 0 {
		txt.WriteString("\nfailures:\n" + strings.Join(errs, "\n") + "\n")
	}
	if len(rep.Leftovers) > 0 {
		txt.WriteString("\nleft behind:\n  " + strings.Join(rep.Leftovers, "\n  ") + "\n")
	}
	fmt.Print(txt.String())

	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "results.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "results.txt"), []byte(txt.String()), 0o644); err != nil {
		return fmt.Errorf("write results.txt: %w", err)
	}
	return nil
}
