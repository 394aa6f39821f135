//go:build linux

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// clCtrd is a private containerd daemon and the ctr arguments to reach it.
type clCtrd struct {
	t        *testing.T
	h        *harness
	ctr      string
	dir      string
	sock     string
	ns       string // containerd namespace
	runcRoot string // --runc-root: husk's state is <runcRoot>/<ns>
	fifoDir  string
	image    string
}

// clStartContainerd starts containerd with root, state and sockets in a
// temp dir and the CRI plugin (and everything else that writes outside its
// root) disabled, and imports the busybox image.
//
// The shim runs the runtime with --root <runc root>/<namespace>; the test
// uses the harness's state root for that (namespace = its base name), so
// the harness's leak check verifies that husk removed every state dir.
func clStartContainerd(t *testing.T, h *harness) *clCtrd {
	t.Helper()
	bins := clRequire(t, "containerd", "ctr", "containerd-shim-runc-v2")
	dir := clTempDir(t, "husk-ctrd-")
	c := &clCtrd{
		t: t, h: h, ctr: bins[1], dir: dir,
		sock:     filepath.Join(dir, "containerd.sock"),
		ns:       filepath.Base(h.root),
		runcRoot: filepath.Dir(h.root),
		fifoDir:  filepath.Join(dir, "fifo"),
		image:    "docker.io/library/" + clImageRef,
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.runtime.v1.linux"]
  runtime = %q
  runtime_root = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc", huskBinary, filepath.Join(dir, "runtime-v1"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.fifoDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Runs after the daemon is stopped: a shim of this daemon (its command
	// line names the socket) must not outlive it.
	t.Cleanup(func() { clKillMatching(t, c.sock) })
	clRemoveIfNew(t, "/run/containerd", "s")
	d := clStartDaemon(t, dir, bins[0], nil, "--config", cfgPath)
	clWaitSocket(t, d, c.sock)
	// Runs before the daemon is stopped: remove what a failed test left.
	t.Cleanup(c.removeAll)

	img := clBuildImage(t, t.TempDir())
	c.must("image", "import", img.Archive)
	if out := c.must("image", "ls", "-q"); !strings.Contains(out, c.image) {
		t.Fatalf("ctr image import did not create %s: %q", c.image, out)
	}
	return c
}

// run runs ctr against the private daemon and namespace.
func (c *clCtrd) run(cmd clCmd, args ...string) clResult {
	c.t.Helper()
	return clRun(c.t, cmd, c.ctr, append([]string{"--address", c.sock, "--namespace", c.ns}, args...)...)
}

// must runs ctr and fails the test unless it exits 0.
func (c *clCtrd) must(args ...string) string {
	c.t.Helper()
	r := c.run(clCmd{}, args...)
	if r.code != 0 {
		c.t.Fatalf("ctr %s: exit %d: %s", strings.Join(args, " "), r.code, strings.TrimSpace(r.err))
	}
	return r.out
}

// runArgs are the `ctr run` options that select husk and keep every file
// of the run private; id's cgroup goes under /husk-it.
func (c *clCtrd) runArgs(id string, extra ...string) []string {
	args := []string{"run", "--runc-binary", huskBinary, "--runc-root", c.runcRoot,
		"--fifo-dir", c.fifoDir, "--cgroup", "/" + cgroupParent + "/" + id}
	return append(args, extra...)
}

// removeAll kills and deletes every task and container left in the
// namespace (after a failed test), then removes the image and namespace.
func (c *clCtrd) removeAll() {
	t := c.t
	out := c.run(clCmd{}, "task", "ls", "-q").out
	for _, id := range strings.Fields(out) {
		t.Errorf("ctr task %s left behind", id)
		c.run(clCmd{}, "task", "kill", "-s", "SIGKILL", id)
		c.run(clCmd{}, "task", "delete", "--force", id)
	}
	out = c.run(clCmd{}, "container", "ls", "-q").out
	for _, id := range strings.Fields(out) {
		t.Errorf("ctr container %s left behind", id)
		c.run(clCmd{}, "container", "delete", id)
	}
}

// taskStatus returns the STATUS and PID columns of `ctr task ls` for id.
func (c *clCtrd) taskStatus(id string) (status string, pid int) {
	c.t.Helper()
	for _, line := range strings.Split(c.must("task", "ls"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id {
			pid, _ = strconv.Atoi(f[1])
			return f[2], pid
		}
	}
	return "", 0
}

// TestClientContainerd drives husk through containerd's runc v2 shim with
// ctr: foreground runs (stdout, exit code), a tty run, and a detached
// container with exec (plain and tty), ps, pause/resume and kill.
func TestClientContainerd(t *testing.T) {
	h := newHarness(t)
	c := clStartContainerd(t, h)

	t.Run("run", func(t *testing.T) {
		c.t = t
		id := h.newID()
		script := `echo "hello from $0"; echo "env=$CL_ENV"; readlink /proc/self/ns/uts; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; exit 7`
		r := c.run(clCmd{}, c.runArgs(id, "--rm", "--env", "CL_ENV=from-ctr", c.image, id, "sh", "-c", script, id)...)
		if r.code != 7 {
			t.Errorf("ctr run exit code = %d, want 7 (stderr %q)", r.code, r.err)
		}
		lines := nonEmptyLines(r.out)
		if len(lines) < 1 || strings.TrimSpace(lines[0]) != "hello from "+id {
			t.Errorf("container stdout = %q, want first line %q", r.out, "hello from "+id)
		}
		// ctr sets no_new_privs and asks for a new UTS namespace.
		if !strings.Contains(r.out, "NoNewPrivs:\t1") {
			t.Errorf("container does not see NoNewPrivs: 1 in /proc/self/status: %q", r.out)
		}
		if len(lines) < 2 || strings.TrimSpace(lines[1]) != "env=from-ctr" {
			t.Errorf("container environment: %q, want env=from-ctr", lines)
		}
		hostUTS, err := os.Readlink("/proc/self/ns/uts")
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) < 3 || !strings.HasPrefix(lines[2], "uts:[") || strings.TrimSpace(lines[2]) == hostUTS {
			t.Errorf("container UTS namespace = %q, want a new one (host %s)", lines, hostUTS)
		}
		clCgroupGone(t, "/"+cgroupParent+"/"+id)
	})

	t.Run("stdin", func(t *testing.T) {
		c.t = t
		id := h.newID()
		// ctr never closes the container's stdin, so read one line only.
		r := c.run(clCmd{stdin: "line-from-stdin\n"}, c.runArgs(id, "--rm", c.image, id, "sh", "-c", "read l; echo got:$l", id)...)
		if r.code != 0 || strings.TrimSpace(r.out) != "got:line-from-stdin" {
			t.Errorf("stdin through ctr: exit %d, stdout %q, want got:line-from-stdin", r.code, r.out)
		}
	})

	t.Run("tty", func(t *testing.T) {
		c.t = t
		id := h.newID()
		script := `tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty; exit 4`
		r := c.run(clCmd{tty: true}, c.runArgs(id, "--rm", "-t", c.image, id, "sh", "-c", script, id)...)
		if r.code != 4 {
			t.Errorf("ctr run -t exit code = %d, want 4", r.code)
		}
		if !regexp.MustCompile(`/dev/pts/\d+`).MatchString(r.out) || !strings.Contains(r.out, "stdio-is-tty") {
			t.Errorf("container has no terminal on its stdio: %q", r.out)
		}
	})

	t.Run("detached", func(t *testing.T) {
		c.t = t
		id := h.newID()
		cg := "/" + cgroupParent + "/" + id
		c.must(c.runArgs(id, "-d", "--null-io", c.image, id, "sh", "-c", "while :; do sleep 1; done", id)...)
		status, pid := c.taskStatus(id)
		if status != "RUNNING" || pid <= 0 {
			t.Fatalf("ctr task ls: %s is %q with pid %d, want RUNNING", id, status, pid)
		}

		// exec: output, exit code, and that it runs in the container.
		r := c.run(clCmd{}, "task", "exec", "--fifo-dir", c.fifoDir, "--exec-id", "e1", id, "sh", "-c", `echo exec-$$; cat /proc/1/cmdline | tr '\0' ' '; echo; exit 5`)
		if r.code != 5 {
			t.Errorf("ctr task exec exit code = %d, want 5 (stderr %q)", r.code, r.err)
		}
		// The exec'd shell is not pid 1, and pid 1 is the container's init:
		// it runs in the container's pid namespace.
		if l := nonEmptyLines(r.out); len(l) != 2 || l[0] == "exec-1" || !strings.HasPrefix(l[0], "exec-") || !strings.Contains(l[1], "while :") {
			t.Errorf("exec stdout = %q, want exec-<pid> and the container's pid 1 command", r.out)
		}
		// exec with a terminal.
		r = c.run(clCmd{tty: true}, "task", "exec", "--fifo-dir", c.fifoDir, "-t", "--exec-id", "e2", id, "sh", "-c", "tty; exit 0")
		if r.code != 0 || !regexp.MustCompile(`/dev/pts/\d+`).MatchString(r.out) {
			t.Errorf("ctr task exec -t: exit %d, stdout %q, want a /dev/pts terminal", r.code, r.out)
		}

		// ps: the init pid (host namespace) is listed.
		out := c.must("task", "ps", id)
		if !regexp.MustCompile(`(?m)^` + strconv.Itoa(pid) + `\s`).MatchString(out) {
			t.Errorf("ctr task ps does not list init pid %d: %q", pid, out)
		}

		// pause/resume freeze the container's cgroup.
		c.must("task", "pause", id)
		if status, _ := c.taskStatus(id); status != "PAUSED" {
			t.Errorf("after pause, task status = %q, want PAUSED", status)
		}
		if st := clReadCgroup(t, "freezer", cg, "freezer.state"); st != "FROZEN" {
			t.Errorf("after pause, freezer.state = %q, want FROZEN", st)
		}
		c.must("task", "resume", id)
		if status, _ := c.taskStatus(id); status != "RUNNING" {
			t.Errorf("after resume, task status = %q, want RUNNING", status)
		}
		if st := clReadCgroup(t, "freezer", cg, "freezer.state"); st != "THAWED" {
			t.Errorf("after resume, freezer.state = %q, want THAWED", st)
		}

		// kill: the shim reaps init and reports its status.
		c.must("task", "kill", "-s", "SIGKILL", id)
		clPoll(t, "task "+id+" stopped", func() bool {
			status, _ := c.taskStatus(id)
			return status == "STOPPED"
		})
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !isZombie(string(stat)) {
				t.Errorf("init %d still alive after SIGKILL", pid)
			}
		}
		r = c.run(clCmd{}, "task", "delete", id)
		if r.code != 0 {
			t.Errorf("ctr task delete: exit %d: %s", r.code, r.err)
		}
		c.must("container", "delete", id)
		clCgroupGone(t, cg)
	})
}
