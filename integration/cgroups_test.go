//go:build linux

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// cgFile reads a container's cgroup v1 file /sys/fs/cgroup/<ctrl>/husk-it/<id>/<file>.
func cgFile(t *testing.T, ctrl, id, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cgroupRoot, ctrl, cgroupParent, id, file))
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

func cgExpect(t *testing.T, ctrl, id, file, want string) {
	t.Helper()
	if got := cgFile(t, ctrl, id, file); got != want {
		t.Errorf("%s/%s = %q, want %q", ctrl, file, got, want)
	}
}

// cgStarted creates and starts container id from b and registers a forced
// delete as cleanup (harmless when the test deleted it already).
func cgStarted(h *harness, id string, b *bundle.Bundle) {
	h.t.Helper()
	h.create(id, b)
	h.t.Cleanup(func() { h.run("delete", "--force", id) })
	h.start(id)
}

// cgResources sets linux.resources fields of the bundle's spec.
func cgResources(fn func(r *specs.LinuxResources)) bundle.Option {
	return bundle.WithSpec(func(s *specs.Spec) {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		fn(s.Linux.Resources)
	})
}

func i64p(v int64) *int64    { return &v }
func u64p(v uint64) *uint64  { return &v }
func procState(pid int) byte { return procStat(pid)[0] }

// procStat returns /proc/PID/stat from the state field on ("" when gone).
func procStat(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "X"
	}
	s := string(b)
	return strings.TrimSpace(s[strings.LastIndexByte(s, ')')+2:])
}

// waitFor polls cond until it holds; what names it in the failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after %v", what, waitTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCgroupPauseResume: pause freezes every process (freezer FROZEN, tasks
// in D state), state and list say paused, exec is refused, and the error
// texts for wrong states are runc's.
func TestCgroupPauseResume(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", "sleep 100000 & while :; do sleep 1; done", id})
	cgStarted(h, id, b)
	pid := h.state(id).Pid

	_, errOut, code := h.run("resume", id)
	expectError(t, errOut, code, "container not paused")

	h.mustRun("pause", id)
	cgExpect(t, "freezer", id, "freezer.state", "FROZEN")
	if st := h.state(id); st.Status != "paused" || st.Pid != pid {
		t.Errorf("state after pause: status %q pid %d, want paused %d", st.Status, st.Pid, pid)
	}
	if out := h.mustRun("list"); !strings.Contains(out, "paused") {
		t.Errorf("list does not show paused:\n%s", out)
	}
	for _, p := range strings.Fields(cgFile(t, "freezer", id, "cgroup.procs")) {
		n, _ := strconv.Atoi(p)
		if s := procState(n); s != 'D' {
			t.Errorf("process %d is in state %c while frozen, want D", n, s)
		}
	}
	if _, errOut, code := h.run("exec", id, "true"); code == 0 || !strings.Contains(errOut, "paused") {
		t.Errorf("exec in a paused container: exit %d, stderr %q; want a refusal naming paused", code, errOut)
	}
	_, errOut, code = h.run("pause", id)
	expectError(t, errOut, code, "container not running")

	h.mustRun("resume", id)
	cgExpect(t, "freezer", id, "freezer.state", "THAWED")
	if st := h.state(id); st.Status != "running" {
		t.Errorf("status after resume = %q, want running", st.Status)
	}
	waitFor(t, "out of the frozen state", func() bool { return procState(pid) != 'D' })

	// A paused container can be deleted by force (it is thawed to die).
	h.mustRun("pause", id)
	h.mustRun("delete", "--force", id)

	// Wrong states on a stopped container.
	id2 := h.newID()
	cgStarted(h, id2, h.newBundle(id2, []string{"true"}))
	h.waitStatus(id2, "stopped")
	_, errOut, code = h.run("pause", id2)
	expectError(t, errOut, code, "container not running")
	_, errOut, code = h.run("resume", id2)
	expectError(t, errOut, code, "container not paused")
	h.mustRun("delete", id2)
}

// savedResources reads linux.resources from the container's state.json.
func savedResources(t *testing.T, h *harness, id string) *specs.LinuxResources {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.root, id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Config specs.Spec `json:"config"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("decode state.json: %v", err)
	}
	if st.Config.Linux == nil || st.Config.Linux.Resources == nil {
		t.Fatal("state.json has no linux.resources")
	}
	return st.Config.Linux.Resources
}

// TestCgroupUpdateFlags: update with flags changes memory, cpu, cpuset and
// pids, values read back from the cgroup files and from the saved config;
// bad values and wrong states give runc's errors and change nothing.
func TestCgroupUpdateFlags(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id), cgResources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64p(64 << 20)}
		r.CPU = &specs.LinuxCPU{Shares: u64p(1024)}
		r.Pids = &specs.LinuxPids{Limit: i64p(100)}
	}))
	cgStarted(h, id, b)
	cgExpect(t, "memory", id, "memory.limit_in_bytes", strconv.Itoa(64<<20))

	h.mustRun("update", "--memory", "128m", "--memory-swap", "256M", "--memory-reservation", "32MiB",
		"--cpu-share", "512", "--cpu-period", "100000", "--cpu-quota", "50000",
		"--cpuset-cpus", "0", "--pids-limit", "50", id)
	cgExpect(t, "memory", id, "memory.limit_in_bytes", strconv.Itoa(128<<20))
	cgExpect(t, "memory", id, "memory.memsw.limit_in_bytes", strconv.Itoa(256<<20))
	cgExpect(t, "memory", id, "memory.soft_limit_in_bytes", strconv.Itoa(32<<20))
	cgExpect(t, "cpu", id, "cpu.shares", "512")
	cgExpect(t, "cpu", id, "cpu.cfs_period_us", "100000")
	cgExpect(t, "cpu", id, "cpu.cfs_quota_us", "50000")
	cgExpect(t, "cpuset", id, "cpuset.cpus", "0")
	cgExpect(t, "pids", id, "pids.max", "50")

	r := savedResources(t, h, id)
	if r.Memory == nil || *r.Memory.Limit != 128<<20 || *r.Memory.Swap != 256<<20 || *r.Memory.Reservation != 32<<20 {
		t.Errorf("saved memory = %+v", r.Memory)
	}
	if r.CPU == nil || *r.CPU.Shares != 512 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || r.CPU.Cpus != "0" {
		t.Errorf("saved cpu = %+v", r.CPU)
	}
	if r.Pids == nil || *r.Pids.Limit != 50 {
		t.Errorf("saved pids = %+v", r.Pids)
	}
	if len(r.Devices) == 0 {
		t.Error("update dropped the saved device rules")
	}

	// Only what is given changes; -1 lifts the pids limit.
	h.mustRun("update", "--pids-limit", "-1", id)
	cgExpect(t, "pids", id, "pids.max", "max")
	cgExpect(t, "cpu", id, "cpu.shares", "512")

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "abc"}, "invalid value for memory: invalid size: 'abc'"},
		{[]string{"--cpu-quota", "x"}, "invalid value for cpu-quota"},
		{[]string{"--l3-cache-schema", "L3:0=f"}, "Intel RDT/CAT: l3 cache schema is not enabled"},
		{[]string{"--mem-bw-schema", "MB:0=70"}, "Intel RDT/MBA: memory bandwidth schema is not enabled"},
		{[]string{"--memory", "4k"}, "unable to set memory limit to 4096"},
	}
	for _, c := range bad {
		_, errOut, code := h.run(append(append([]string{"update"}, c.args...), id)...)
		expectError(t, errOut, code, c.want)
	}
	cgExpect(t, "memory", id, "memory.limit_in_bytes", strconv.Itoa(128<<20))
	if r := savedResources(t, h, id); *r.Memory.Limit != 128<<20 {
		t.Errorf("a failed update changed the saved memory limit to %d", *r.Memory.Limit)
	}

	// update works on a paused container, not on a stopped one.
	h.mustRun("pause", id)
	h.mustRun("update", "--cpu-share", "256", id)
	cgExpect(t, "cpu", id, "cpu.shares", "256")
	h.mustRun("resume", id)
	h.mustRun("kill", id, "KILL")
	h.waitStatus(id, "stopped")
	_, errOut, code := h.run("update", "--cpu-share", "128", id)
	expectError(t, errOut, code, "container not running")
	h.mustRun("delete", id)
}

// runStdin runs the runtime with --root and stdin from a file holding input.
func runStdin(t *testing.T, h *harness, input string, args ...string) (string, int) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(in, []byte(input), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, huskBinary, append([]string{"--root", h.root}, args...)...)
	cmd.Stdin = f
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("husk %v: timed out", args)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestCgroupUpdateResourcesDockerZeros: `update --resources -` with the JSON
// docker sends; its zeros leave the other settings unchanged.
func TestCgroupUpdateResourcesDockerZeros(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id), cgResources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64p(64 << 20), Reservation: i64p(16 << 20)}
		r.CPU = &specs.LinuxCPU{Shares: u64p(700), Quota: i64p(30000), Period: u64p(100000)}
		r.Pids = &specs.LinuxPids{Limit: i64p(77)}
	}))
	cgStarted(h, id, b)
	docker := `{"memory":{"limit":134217728,"reservation":0,"swap":268435456,"kernel":0},` +
		`"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0},"pids":{"limit":0}}`
	if out, code := runStdin(t, h, docker, "update", "--resources", "-", id); code != 0 {
		t.Fatalf("update --resources -: exit %d: %s", code, out)
	}
	cgExpect(t, "memory", id, "memory.limit_in_bytes", "134217728")
	cgExpect(t, "memory", id, "memory.memsw.limit_in_bytes", "268435456")
	cgExpect(t, "memory", id, "memory.soft_limit_in_bytes", strconv.Itoa(16<<20))
	cgExpect(t, "cpu", id, "cpu.shares", "700")
	cgExpect(t, "cpu", id, "cpu.cfs_quota_us", "30000")
	cgExpect(t, "cpu", id, "cpu.cfs_period_us", "100000")
	cgExpect(t, "pids", id, "pids.max", "77")
	r := savedResources(t, h, id)
	if *r.CPU.Shares != 700 || *r.Pids.Limit != 77 || *r.Memory.Reservation != 16<<20 || *r.Memory.Limit != 134217728 {
		t.Errorf("saved resources after docker's update: cpu %+v pids %+v memory %+v", r.CPU, r.Pids, r.Memory)
	}

	// From a file; flags are ignored then (runc's rule).
	file := filepath.Join(t.TempDir(), "res.json")
	if err := os.WriteFile(file, []byte(`{"cpu":{"shares":300},"pids":{"limit":20}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.mustRun("update", "-r", file, "--cpu-share", "900", id)
	cgExpect(t, "cpu", id, "cpu.shares", "300")
	cgExpect(t, "pids", id, "pids.max", "20")

	_, errOut, code := h.run("update", "-r", filepath.Join(t.TempDir(), "missing.json"), id)
	expectError(t, errOut, code, "no such file or directory")
	h.mustRun("delete", "--force", id)
}

// statsEvent is the part of a stats event the tests look at.
type statsEvent struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data *struct {
		CPU struct {
			Usage struct {
				Total  uint64   `json:"total"`
				Percpu []uint64 `json:"percpu"`
			} `json:"usage"`
		} `json:"cpu"`
		Memory struct {
			Usage struct {
				Limit uint64 `json:"limit"`
				Usage uint64 `json:"usage"`
			} `json:"usage"`
			Raw map[string]uint64 `json:"raw"`
		} `json:"memory"`
		Pids struct {
			Current uint64 `json:"current"`
			Limit   uint64 `json:"limit"`
		} `json:"pids"`
	} `json:"data"`
}

// TestCgroupEventsStats: events --stats prints one stats event of runc's
// shape; error texts for a bad interval and a stopped container.
func TestCgroupEventsStats(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id), cgResources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64p(96 << 20)}
		r.Pids = &specs.LinuxPids{Limit: i64p(64)}
	}))
	cgStarted(h, id, b)
	out := h.mustRun("events", "--stats", id)
	if lines := nonEmptyLines(out); len(lines) != 1 {
		t.Fatalf("events --stats printed %d lines, want 1", len(lines))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatalf("decode: %v", err)
	}
	cgKeys(t, "event", top, "data", "id", "type")
	var data map[string]json.RawMessage
	if err := json.Unmarshal(top["data"], &data); err != nil {
		t.Fatal(err)
	}
	cgKeys(t, "data", data, "blkio", "cpu", "cpuset", "hugetlb", "intel_rdt", "memory", "network_interfaces", "pids")
	var ev statsEvent
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "stats" || ev.ID != id || ev.Data == nil {
		t.Fatalf("event type %q id %q", ev.Type, ev.ID)
	}
	d := ev.Data
	if d.Memory.Usage.Limit != 96<<20 || d.Memory.Usage.Usage == 0 || len(d.Memory.Raw) == 0 {
		t.Errorf("memory stats: limit %d usage %d raw %d keys", d.Memory.Usage.Limit, d.Memory.Usage.Usage, len(d.Memory.Raw))
	}
	if d.Pids.Current < 1 || d.Pids.Limit != 64 {
		t.Errorf("pids stats: current %d limit %d", d.Pids.Current, d.Pids.Limit)
	}
	if d.CPU.Usage.Total == 0 || len(d.CPU.Usage.Percpu) == 0 {
		t.Errorf("cpu stats: total %d percpu %v", d.CPU.Usage.Total, d.CPU.Usage.Percpu)
	}

	_, errOut, code := h.run("events", "--interval", "0s", id)
	expectError(t, errOut, code, "duration interval must be greater than 0")
	h.mustRun("kill", id, "KILL")
	h.waitStatus(id, "stopped")
	_, errOut, code = h.run("events", "--stats", id)
	expectError(t, errOut, code, "container with id "+id+" is not running")
	h.mustRun("delete", id)
}

// cgKeys checks that m has exactly the keys want (sorted).
func cgKeys(t *testing.T, what string, m map[string]json.RawMessage, want ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s keys = %v, want %v", what, got, want)
	}
}

// eventStream is a running `events` command and its decoded lines.
type eventStream struct {
	cmd    *exec.Cmd
	events chan statsEvent
	done   chan error
}

// startEvents runs `events --interval IV ID` in the background.
func startEvents(t *testing.T, h *harness, id, interval string) *eventStream {
	t.Helper()
	cmd := exec.Command(huskBinary, "--root", h.root, "events", "--interval", interval, id)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &eventStream{cmd: cmd, events: make(chan statsEvent, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev statsEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("events printed a bad line %q: %v", sc.Text(), err)
				continue
			}
			s.events <- ev
		}
		close(s.events)
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		for range s.events {
		}
	})
	return s
}

// next returns the next event, failing the test when the stream ends first.
func (s *eventStream) next(t *testing.T) statsEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("events ended early")
		}
		return ev
	case <-time.After(waitTimeout):
		t.Fatalf("no event after %v", waitTimeout)
	}
	return statsEvent{}
}

// wait waits for the stream's end and returns every event still unread.
func (s *eventStream) wait(t *testing.T) ([]statsEvent, error) {
	t.Helper()
	var rest []statsEvent
	timeout := time.After(waitTimeout)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return rest, <-s.done
			}
			rest = append(rest, ev)
		case <-timeout:
			t.Fatalf("events still running %v after the container stopped", waitTimeout)
		}
	}
}

// TestCgroupEventsOOM: a memory hog under a small limit is OOM-killed, the
// event stream reports an oom event and ends with the container.
func TestCgroupEventsOOM(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	// The hog waits for /go so that events is listening before it starts.
	script := "while [ ! -e /go ]; do sleep 0.05; done; x=0123456789abcdef; while :; do x=$x$x; done"
	b := h.newBundle(id, []string{"sh", "-c", script, id}, cgResources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64p(16 << 20), Swap: i64p(16 << 20)}
	}))
	cgStarted(h, id, b)
	s := startEvents(t, h, id, "100ms")
	if ev := s.next(t); ev.Type != "stats" || ev.ID != id {
		t.Fatalf("first event %+v, want stats for %s", ev, id)
	}
	if err := os.WriteFile(filepath.Join(b.Rootfs, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rest, err := s.wait(t)
	if err != nil {
		t.Errorf("events exited with %v, want success when the container stops", err)
	}
	oom := 0
	for _, ev := range rest {
		if ev.Type == "oom" {
			oom++
			if ev.ID != id || ev.Data != nil {
				t.Errorf("oom event %+v", ev)
			}
		}
	}
	if oom == 0 {
		t.Errorf("no oom event among %d events", len(rest))
	}
	if st := h.state(id); st.Status != "stopped" {
		t.Errorf("status after OOM = %q, want stopped", st.Status)
	}
	if ctl := cgFile(t, "memory", id, "memory.oom_control"); !strings.Contains(ctl, "oom_kill ") || strings.Contains(ctl, "oom_kill 0") {
		t.Errorf("memory.oom_control shows no OOM kill:\n%s", ctl)
	}
	h.mustRun("delete", id)
}

// TestCgroupPidsLimitForkLoop: an endless fork loop stops at pids.max. The
// loop runs in a child shell, which exits at its first failed fork (ash
// treats that as fatal); init reaps it and goes on, so reaching the final
// exec proves the limit ended the loop.
func TestCgroupPidsLimitForkLoop(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := "sh -c 'while :; do sleep 100000 & done' 2>/dev/null; exec sleep 100001"
	b := h.newBundle(id, []string{"sh", "-c", script, id}, cgResources(func(r *specs.LinuxResources) {
		r.Pids = &specs.LinuxPids{Limit: i64p(10)}
	}))
	cgStarted(h, id, b)
	pid := h.state(id).Pid
	waitFor(t, "past the fork loop", func() bool {
		b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		return strings.HasPrefix(string(b), "sleep\x00100001")
	})
	cgExpect(t, "pids", id, "pids.max", "10")
	cur, err := strconv.Atoi(cgFile(t, "pids", id, "pids.current"))
	if err != nil || cur > 10 || cur < 2 {
		t.Errorf("pids.current = %d (%v), want 2..10", cur, err)
	}
	if ev := cgFile(t, "pids", id, "pids.events"); ev == "max 0" {
		t.Errorf("pids.events = %q, want failed forks counted", ev)
	}
	var pids []int
	if err := json.Unmarshal([]byte(h.mustRun("ps", "--format", "json", id)), &pids); err != nil || len(pids) != cur {
		t.Errorf("ps lists %v (%v), want %d processes", pids, err, cur)
	}
	h.mustRun("delete", "--force", id)
}

// TestCgroupKillAll: without a PID namespace, killing init leaves its
// children; kill --all reaches every process of the cgroup.
func TestCgroupKillAll(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	noPidNS := bundle.WithSpec(func(s *specs.Spec) {
		var keep []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != specs.PIDNamespace {
				keep = append(keep, ns)
			}
		}
		s.Linux.Namespaces = keep
	})
	script := "sleep 100000 & sleep 100000 & while :; do sleep 1; done"
	cgStarted(h, id, h.newBundle(id, []string{"sh", "-c", script, id}, noPidNS))
	var pids []int
	waitFor(t, "running 3 processes", func() bool {
		pids = nil
		_ = json.Unmarshal([]byte(h.mustRun("ps", "--format", "json", id)), &pids)
		return len(pids) >= 3
	})
	h.mustRun("kill", "--all", id, "KILL")
	for _, p := range pids {
		waitFor(t, "process "+strconv.Itoa(p)+" dead", func() bool {
			s := procStat(p)
			return s[0] == 'X' || s[0] == 'Z'
		})
	}
	h.waitStatus(id, "stopped")
	if got := cgFile(t, "pids", id, "cgroup.procs"); got != "" {
		t.Errorf("cgroup still holds %q after kill --all", got)
	}
	h.mustRun("delete", id)
}

// TestCgroupDeleteSubcgroups: the container creates nested cgroups (through
// a writable bind mount of the memory hierarchy) and moves itself into one;
// delete --force removes them all.
func TestCgroupDeleteSubcgroups(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	sub := "/cg/" + cgroupParent + "/" + id + "/sub/deeper"
	script := "mkdir -p " + sub + " /cg/" + cgroupParent + "/" + id + "/other && echo $$ > " + sub +
		"/cgroup.procs && exec sleep 100001"
	b := h.newBundle(id, []string{"sh", "-c", script, id}, bundle.WithSpec(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/cg", Type: "bind",
			Source: filepath.Join(cgroupRoot, "memory"), Options: []string{"rbind", "rw"}})
	}))
	cgStarted(h, id, b)
	pid := h.state(id).Pid
	waitFor(t, "in its own sub-cgroup", func() bool {
		b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		return strings.HasPrefix(string(b), "sleep\x00100001")
	})
	if got := cgFile(t, "memory", id, "sub/deeper/cgroup.procs"); got != strconv.Itoa(pid) {
		t.Fatalf("sub-cgroup holds %q, want the init pid %d", got, pid)
	}
	h.mustRun("delete", "--force", id)
	for _, ctrl := range []string{"memory", "pids", "cpu", "freezer"} {
		if _, err := os.Stat(filepath.Join(cgroupRoot, ctrl, cgroupParent, id)); !os.IsNotExist(err) {
			t.Errorf("%s cgroup of %s still exists after delete (%v)", ctrl, id, err)
		}
	}
}

// TestCgroupTinyMemoryLimit: a container whose memory limit (and memory+swap
// limit) is 256 KiB starts and runs every time: init joins the memory
// hierarchy only after the limit is written, so its own set-up is not
// charged (before, a Go init was killed or the limit refused below ~2 MiB).
// The limit is real: a process that allocates past it is OOM-killed.
func TestCgroupTinyMemoryLimit(t *testing.T) {
	const limit = 256 << 10
	tiny := cgResources(func(r *specs.LinuxResources) {
		r.Memory = &specs.LinuxMemory{Limit: i64p(limit), Swap: i64p(limit)}
	})
	h := newHarness(t)
	// The container's cgroup mount shows its own memory cgroup, although init joined it last.
	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes", id}, tiny, smAddMounts(specs.Mount{
		Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "ro"},
	}))
	if out, errOut, code := h.run("run", "--bundle", b.Dir, id); code != 0 || strings.TrimSpace(out) != strconv.Itoa(limit) {
		t.Fatalf("memory.limit_in_bytes seen in the container: %q (exit %d, %s), want %d", out, code, errOut, limit)
	}
	for i := 0; i < 5; i++ {
		id := h.newID()
		b := h.newBundle(id, []string{"true", id}, tiny)
		if _, errOut, code := h.run("run", "--bundle", b.Dir, id); code != 0 {
			t.Fatalf("run %d of true under a %d-byte limit: exit %d, stderr %s", i, limit, code, errOut)
		}
	}
	id = h.newID()
	hog := "x=0123456789abcdef; while :; do x=$x$x; done"
	b = h.newBundle(id, []string{"sh", "-c", hog, id}, tiny)
	if _, errOut, code := h.run("run", "--bundle", b.Dir, id); code != 128+9 {
		t.Fatalf("memory hog under a %d-byte limit: exit %d (%s), want 137 (OOM-killed)", limit, code, errOut)
	}
}

// TestCgroupPidsLimitOne: a pids limit of 1 admits the container's own process. init joins the pids
// cgroup before it starts, but the limit is written once init is set up, so its Go runtime's threads
// are not refused. A second process is refused: exec fails with a clear error and leaves nothing.
func TestCgroupPidsLimitOne(t *testing.T) {
	one := cgResources(func(r *specs.LinuxResources) { r.Pids = &specs.LinuxPids{Limit: i64p(1)} })
	h := newHarness(t)
	for i := 0; i < 3; i++ {
		id := h.newID()
		b := h.newBundle(id, []string{"true", id}, one)
		if _, errOut, code := h.run("run", "--bundle", b.Dir, id); code != 0 {
			t.Fatalf("run %d of true under pids.max 1: exit %d, stderr %s", i, code, errOut)
		}
	}
	id := h.newID()
	cgStarted(h, id, h.newBundle(id, []string{"sh", "-c", "exec sleep 100000", id}, one))
	cgExpect(t, "pids", id, "pids.max", "1")
	cgExpect(t, "pids", id, "cgroup.procs", strconv.Itoa(h.state(id).Pid))
	_, errOut, code := h.run("exec", id, "true")
	if code == 0 || !strings.Contains(errOut, "clone container init: Resource temporarily unavailable") {
		t.Errorf("exec under pids.max 1: exit %d, stderr %q; want a refused clone", code, errOut)
	}
	cgExpect(t, "pids", id, "cgroup.procs", strconv.Itoa(h.state(id).Pid))
	h.mustRun("delete", "--force", id)
}
