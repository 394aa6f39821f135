package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Operation names, in table order.
const (
	opRun       = "run"
	opCreate    = "create"
	opStart     = "start"
	opExec      = "exec"
	opKill      = "kill"
	opDelete    = "delete"
	opForce     = "delete --force"
	opParallel  = "20 parallel"
	opRSS       = "create peak RSS"
	opRSSMax    = "create peak RSS, largest"
	opSyscalls  = "syscalls per run"
	opSecUncach = "run, seccomp uncached"
	opSecCached = "run, seccomp cached"
	opBusyRun   = "run, 500 host mounts"
	opBusyExec  = "exec, 500 host mounts"
)

// parallelCount is how many containers the parallel operation runs at once.
const parallelCount = 20

// sleepArgs keeps a container running for the lifecycle and exec operations.
var sleepArgs = []string{"sleep", "1000"}

// bench drives the measurements.
type bench struct {
	r        *reaper
	bundles  *bundleSet
	cs       []contender
	res      *results
	live     liveSet
	timeout  time.Duration
	rsswrap  string // bench/rsswrap binary
	seq      atomic.Int64
	stopping atomic.Bool
	outDir   string
}

func (b *bench) newID(c contender) string {
	return fmt.Sprintf("hb%d-%s-%d", os.Getpid(), c.Name, b.seq.Add(1))
}

// fail records a failed attempt of op; the caller cleans up.
func (b *bench) fail(op, kind string, c contender, err error) {
	b.res.fail(op, kind, c.Name, err)
}

// opRunOnce times `run` of /bin/true to exit (the floor: one floor run).
func (b *bench) opRunOnce(kind string, c contender) { b.timeRun(opRun, kind, c) }

// timeRun times `run` of /bin/true to exit, recorded under op.
func (b *bench) timeRun(op, kind string, c contender) {
	if c.Floor {
		res, err := b.r.run([]string{c.Bin, b.bundles.rootfs[kind]}, b.timeout)
		if err == nil {
			err = res.err([]string{c.Bin})
		}
		if err != nil {
			b.fail(op, kind, c, err)
			return
		}
		b.res.add(op, kind, c.Name, "ms", ms(res.Dur))
		return
	}
	id := b.newID(c)
	inst, err := b.bundles.newInstance(kind, id, nil, nil)
	if err != nil {
		b.fail(op, kind, c, err)
		return
	}
	b.live.add(id, liveContainer{c: c, inst: inst})
	argv := c.argv("run", "--bundle", inst.Dir, id)
	res, err := b.runOK(argv)
	if err != nil {
		b.fail(op, kind, c, err)
		b.forceDelete(id)
		return
	}
	b.res.add(op, kind, c.Name, "ms", ms(res.Dur))
	b.live.remove(id)
	if err := inst.remove(); err != nil {
		b.fail(op, kind, c, err)
	}
}

// runOK runs argv to its exit; a failure to run it and an unsuccessful exit are both errors.
func (b *bench) runOK(argv []string) (cmdResult, error) {
	res, err := b.r.run(argv, b.timeout)
	if err == nil {
		err = res.err(argv)
	}
	return res, err
}

// step runs one runtime command and records its duration under op, when op
// is not empty. It returns false when the command failed.
func (b *bench) step(op, kind string, c contender, argv []string) bool {
	res, err := b.runOK(argv)
	if err != nil {
		if op == "" {
			op = filepath.Base(argv[3])
		}
		b.fail(op, kind, c, err)
		return false
	}
	if op != "" {
		b.res.add(op, kind, c.Name, "ms", ms(res.Dur))
	}
	return true
}

// What a create call records.
const (
	recordTime = iota // the create's duration
	recordRSS         // the peak RSS, with create run under rsswrap
	recordNone        // nothing: the container is for another measurement
)

// create runs `create` for a new sleeping container and returns its id and
// init pid. It records the create time or, under rsswrap, the peak RSS:
// the create process (the larger of its own peak and that of the
// descendants it reaped), every intermediate process orphaned to us during
// create, and the init's VmHWM while it waits for start.
func (b *bench) create(kind string, c contender, record int) (string, int, bool) {
	id := b.newID(c)
	inst, err := b.bundles.newInstance(kind, id, sleepArgs, nil)
	if err != nil {
		b.fail(opCreate, kind, c, err)
		return "", 0, false
	}
	b.live.add(id, liveContainer{c: c, inst: inst})
	b.r.takeOrphans() // nothing stale may count towards this create
	argv := c.argv("create", "--bundle", inst.Dir, "--pid-file", inst.pidFile(), id)
	rssFile := filepath.Join(inst.Dir, "create.maxrss")
	if record == recordRSS {
		argv = append([]string{b.rsswrap, rssFile}, argv...)
	}
	res, err := b.runOK(argv)
	if err != nil {
		b.fail(opCreate, kind, c, err)
		b.forceDelete(id)
		return "", 0, false
	}
	pid, err := readPidFile(inst.pidFile())
	if err != nil {
		b.fail(opCreate, kind, c, err)
		b.forceDelete(id)
		return "", 0, false
	}
	b.live.setInit(id, pid)
	switch record {
	case recordTime:
		b.res.add(opCreate, kind, c.Name, "ms", ms(res.Dur))
		return id, pid, true
	case recordNone:
		return id, pid, true
	}
	createRSS, err := readPidFile(rssFile) // one decimal number, like a pid file
	if err != nil {
		b.fail(opRSS, kind, c, fmt.Errorf("rsswrap output: %w", err))
		return id, pid, true
	}
	parts := []int64{int64(createRSS)}
	for _, o := range b.r.takeOrphans() {
		parts = append(parts, o.maxRSSKiB())
	}
	hwm, err := vmHWMKiB(pid)
	if err != nil {
		b.fail(opRSS, kind, c, err)
		return id, pid, true
	}
	parts = append(parts, hwm)
	var sum, largest int64
	for _, p := range parts {
		sum += p
		largest = max(largest, p)
	}
	b.res.add(opRSS, kind, c.Name, "MiB", float64(sum)/1024)
	b.res.add(opRSSMax, kind, c.Name, "MiB", float64(largest)/1024)
	return id, pid, true
}

// opLifecycle measures create, start, exec, kill (to the init's exit) and
// delete on one container, then create+start and `delete --force` on a
// second one.
func (b *bench) opLifecycle(kind string, c contender) {
	id, pid, ok := b.create(kind, c, recordTime)
	if !ok {
		return
	}
	if !b.step(opStart, kind, c, c.argv("start", id)) {
		b.forceDelete(id)
		return
	}
	if !b.step(opExec, kind, c, c.argv("exec", id, "/bin/true")) {
		b.forceDelete(id)
		return
	}
	begin := time.Now()
	argv := c.argv("kill", id, "9")
	res, err := b.runOK(argv)
	if err != nil {
		b.fail(opKill, kind, c, err)
		b.forceDelete(id)
		return
	}
	e, err := b.r.waitPid(pid, b.timeout)
	if err != nil {
		b.fail(opKill, kind, c, fmt.Errorf("wait for init: %w", err))
		b.forceDelete(id)
		return
	}
	end := res.Exit.At
	if e.At.After(end) {
		end = e.At
	}
	b.res.add(opKill, kind, c.Name, "ms", ms(end.Sub(begin)))
	if !b.step(opDelete, kind, c, c.argv("delete", id)) {
		b.forceDelete(id)
		return
	}
	b.finish(id)

	id, pid, ok = b.create(kind, c, recordRSS)
	if !ok {
		return
	}
	if !b.step("", kind, c, c.argv("start", id)) {
		b.forceDelete(id)
		return
	}
	if !b.step(opForce, kind, c, c.argv("delete", "--force", id)) {
		b.forceDelete(id)
		return
	}
	if _, err := b.r.waitPid(pid, b.timeout); err != nil {
		b.fail(opForce, kind, c, fmt.Errorf("wait for init: %w", err))
	}
	b.finish(id)
}

// finish forgets a deleted container and removes its bundle directory.
func (b *bench) finish(id string) {
	lc, ok := b.live.all()[id]
	b.live.remove(id)
	if ok {
		if err := lc.inst.remove(); err != nil {
			fmt.Fprintf(os.Stderr, "huskbench: %v\n", err)
		}
	}
}

// forceDelete removes a container after a failure: `delete --force`, then
// its init is reaped. Errors are reported, not recorded.
func (b *bench) forceDelete(id string) {
	lc, ok := b.live.all()[id]
	if !ok {
		return
	}
	argv := lc.c.argv("delete", "--force", id)
	_, err := b.runOK(argv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "huskbench: cleanup of %s: %v\n", id, err)
	}
	if lc.init > 0 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", lc.init)); err == nil {
			if _, err := b.r.waitPid(lc.init, 10*time.Second); err != nil {
				fmt.Fprintf(os.Stderr, "huskbench: cleanup of %s: %v\n", id, err)
			}
		}
	}
	b.finish(id)
}

// opParallel measures the wall time of 20 containers created, started,
// run to exit and deleted at the same time (the floor: 20 floor runs).
func (b *bench) opParallel(kind string, c contender) {
	insts := make([]instance, parallelCount)
	for i := range insts {
		if c.Floor {
			break
		}
		id := b.newID(c)
		inst, err := b.bundles.newInstance(kind, id, nil, nil)
		if err != nil {
			b.fail(opParallel, kind, c, err)
			return
		}
		insts[i] = inst
		b.live.add(id, liveContainer{c: c, inst: inst})
	}
	var wg sync.WaitGroup
	errs := make([]error, parallelCount)
	begin := time.Now()
	for i := range insts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = b.oneParallel(c, kind, insts[i])
		}(i)
	}
	wg.Wait()
	wall := time.Since(begin)
	b.r.takeOrphans()
	failed := false
	for i, err := range errs {
		if err == nil {
			continue
		}
		if !failed {
			b.fail(opParallel, kind, c, err)
		}
		failed = true
		if !c.Floor {
			b.forceDelete(insts[i].ID)
		}
	}
	if failed {
		return
	}
	b.res.add(opParallel, kind, c.Name, "ms", ms(wall))
}

// oneParallel is one container of a parallel round: create, start, wait
// for /bin/true to exit, delete.
func (b *bench) oneParallel(c contender, kind string, inst instance) error {
	if c.Floor {
		res, err := b.r.run([]string{c.Bin, b.bundles.rootfs[kind]}, b.timeout)
		if err == nil {
			err = res.err([]string{c.Bin})
		}
		return err
	}
	if err := b.cmd(c.argv("create", "--bundle", inst.Dir, "--pid-file", inst.pidFile(), inst.ID)); err != nil {
		return err
	}
	pid, err := readPidFile(inst.pidFile())
	if err != nil {
		return err
	}
	b.live.setInit(inst.ID, pid)
	if err := b.cmd(c.argv("start", inst.ID)); err != nil {
		return err
	}
	if _, err := b.r.waitPid(pid, b.timeout); err != nil {
		return fmt.Errorf("wait for init: %w", err)
	}
	if err := b.cmd(c.argv("delete", inst.ID)); err != nil {
		return err
	}
	b.finish(inst.ID)
	return nil
}

// cmd runs argv and returns an error unless it exited 0.
func (b *bench) cmd(argv []string) error {
	res, err := b.r.run(argv, b.timeout)
	if err != nil {
		return err
	}
	return res.err(argv)
}

// opSeccomp times husk `run` of the typical bundle without and then with
// the compiled-filter cache in <root>/.seccomp-cache.
func (b *bench) opSeccomp(c contender) {
	cache := filepath.Join(c.Root, ".seccomp-cache")
	if err := os.RemoveAll(cache); err != nil {
		b.fail(opSecUncach, kindTypical, c, fmt.Errorf("remove seccomp cache: %w", err))
		return
	}
	for _, op := range []string{opSecUncach, opSecCached} {
		id := b.newID(c)
		inst, err := b.bundles.newInstance(kindTypical, id, nil, nil)
		if err != nil {
			b.fail(op, kindTypical, c, err)
			return
		}
		b.live.add(id, liveContainer{c: c, inst: inst})
		if !b.step(op, kindTypical, c, c.argv("run", "--bundle", inst.Dir, id)) {
			b.forceDelete(id)
			return
		}
		b.finish(id)
	}
}

// opStrace counts the syscalls of one `run` with `strace -f -c` and keeps
// the summary in <out>/strace-<runtime>-<kind>.txt.
func (b *bench) opStrace(strace, kind string, c contender) {
	out := filepath.Join(b.outDir, fmt.Sprintf("strace-%s-%s.txt", c.Name, kind))
	var argv []string
	var id string
	if c.Floor {
		argv = []string{strace, "-f", "-c", "-o", out, c.Bin, b.bundles.rootfs[kind]}
	} else {
		id = b.newID(c)
		inst, err := b.bundles.newInstance(kind, id, nil, nil)
		if err != nil {
			b.fail(opSyscalls, kind, c, err)
			return
		}
		b.live.add(id, liveContainer{c: c, inst: inst})
		argv = append([]string{strace, "-f", "-c", "-o", out}, c.argv("run", "--bundle", inst.Dir, id)...)
	}
	_, err := b.runOK(argv)
	if id != "" {
		if err != nil {
			b.forceDelete(id)
		} else {
			b.finish(id)
		}
	}
	if err != nil {
		b.fail(opSyscalls, kind, c, err)
		return
	}
	data, err := os.ReadFile(out)
	if err != nil {
		b.fail(opSyscalls, kind, c, fmt.Errorf("read strace summary: %w", err))
		return
	}
	n, err := parseStraceTotal(string(data))
	if err != nil {
		b.fail(opSyscalls, kind, c, err)
		return
	}
	b.res.add(opSyscalls, kind, c.Name, "calls", float64(n))
}

// memLimitRow is one attempt to run /bin/true under a small memory limit.
type memLimitRow struct {
	Runtime  string `json:"runtime"`
	LimitKiB int64  `json:"limit_kib"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
}

// opMemLimit runs /bin/true in the minimal bundle with memory.limit and
// memory+swap both set to limit, in cgroup /husk-bench/<id>.
func (b *bench) opMemLimit(c contender, limit int64) memLimitRow {
	row := memLimitRow{Runtime: c.Name, LimitKiB: limit / 1024}
	id := b.newID(c)
	inst, err := b.bundles.newInstance(kindMinimal, id, nil, func(s *specs.Spec) {
		l, sw := limit, limit
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &l, Swap: &sw}
		s.Linux.CgroupsPath = cgroupParent + "/" + id
	})
	if err != nil {
		row.Error = err.Error()
		return row
	}
	b.live.add(id, liveContainer{c: c, inst: inst})
	argv := c.argv("run", "--bundle", inst.Dir, id)
	if _, err = b.runOK(argv); err != nil {
		row.Error = err.Error()
		b.forceDelete(id)
		return row
	}
	row.OK = true
	b.finish(id)
	return row
}
