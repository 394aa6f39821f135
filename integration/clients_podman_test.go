//go:build linux

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// clPodman is a private podman setup: its own containers.conf and
// storage.conf, storage, run and tmp dirs, with husk as the runtime.
type clPodman struct {
	t      *testing.T
	h      *harness
	podman string
	dir    string
	env    []string
	// cgParent is the --cgroup-parent of every container (it gets
	// libpod-<id> under it, and conmon goes into its conmon child).
	cgParent string
	image    string
}

// huskDefaultRoot is husk's built-in state root for root, which podman
// uses because it passes no --root.
const huskDefaultRoot = "/run/husk"

// clStartPodman writes the private config and imports the busybox rootfs.
func clStartPodman(t *testing.T, h *harness) *clPodman {
	t.Helper()
	bins := clRequire(t, "podman", "conmon")
	dir := clTempDir(t, "husk-podman-")
	p := &clPodman{t: t, h: h, podman: bins[0], dir: dir, image: "localhost/" + clImageRef}
	p.cgParent = "/" + cgroupParent + "/" + h.prefix + "-podman"
	for _, d := range []string{"root", "runroot", "tmp", "volumes", "net", "docker"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Root lacks CAP_SYS_RESOURCE here and podman's default nofile and
	// nproc limits exceed the hard limits, so pin them; runtime_supports_json
	// lists husk so that podman passes --log-format=json --log.
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"
cgroupns = "host"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
runtime = "husk"
runtime_supports_json = ["crun", "runc", "husk"]
static_dir = %q
tmp_dir = %q
volume_path = %q
image_copy_tmp_dir = %q

[engine.runtimes]
husk = [%q]

[network]
network_config_dir = %q
`, filepath.Join(dir, "events.log"), filepath.Join(dir, "root", "libpod"), filepath.Join(dir, "tmp"),
		filepath.Join(dir, "volumes"), filepath.Join(dir, "tmp"), huskBinary, filepath.Join(dir, "net"))
	storage := fmt.Sprintf("[storage]\ndriver = \"overlay\"\nrunroot = %q\ngraphroot = %q\n",
		filepath.Join(dir, "runroot"), filepath.Join(dir, "root"))
	files := map[string]string{
		"containers.conf":    conf,
		"storage.conf":       storage,
		"docker/config.json": "{}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.env = []string{
		"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf"),
		"DOCKER_CONFIG=" + filepath.Join(dir, "docker"),
		"TMPDIR=" + filepath.Join(dir, "tmp"),
	}
	// Cleanups run last-registered first: remove leftover containers, wait
	// for conmon and podman's exit commands (they name the dir), release
	// the storage, and remove the cgroup parent once it is empty.
	t.Cleanup(func() { p.removeCgroupParent() })
	// podman's default root for husk, and podman's network run dir, are
	// fixed paths.
	// husk keeps its compiled seccomp filters in <root>/.seccomp-cache: remove it with the root.
	if _, err := os.Lstat(huskDefaultRoot); os.IsNotExist(err) {
		t.Cleanup(func() {
			_ = os.RemoveAll(filepath.Join(huskDefaultRoot, ".seccomp-cache"))
			_ = os.Remove(huskDefaultRoot)
		})
	}
	clRemoveIfNew(t, "/run/containers", "networks")
	t.Cleanup(func() {
		p.run(clCmd{}, "system", "reset", "--force")
	})
	t.Cleanup(func() { p.waitHelpersGone() })
	t.Cleanup(p.removeAll)

	// Importing writes c/image's blob info cache to /var/lib/containers/cache
	// for root whatever the storage config says; a tmpfs over /var/lib in a
	// private mount namespace keeps the host's /var/lib untouched.
	img := clBuildImage(t, t.TempDir())
	r := clRun(t, clCmd{env: p.env}, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o size=16m,mode=0755 tmpfs /var/lib && exec "$@"`, "sh",
		p.podman, "--runtime", "husk", "import", "--quiet", img.Rootfs, clImageRef)
	if r.code != 0 {
		t.Fatalf("podman import: exit %d: %s", r.code, r.err)
	}
	return p
}

// run runs podman with the private configuration and husk as runtime.
func (p *clPodman) run(c clCmd, args ...string) clResult {
	p.t.Helper()
	c.env = append(append([]string(nil), p.env...), c.env...)
	return clRun(p.t, c, p.podman, append([]string{"--runtime", "husk"}, args...)...)
}

// must runs podman and fails the test unless it exits 0.
func (p *clPodman) must(args ...string) string {
	p.t.Helper()
	r := p.run(clCmd{}, args...)
	if r.code != 0 {
		p.t.Fatalf("podman %s: exit %d: %s", strings.Join(args, " "), r.code, strings.TrimSpace(r.err))
	}
	return r.out
}

// runArgs are the `podman run` options every test container gets.
func (p *clPodman) runArgs(extra ...string) []string {
	return append([]string{"run", "--cgroup-parent", p.cgParent}, extra...)
}

// removeAll force-removes every container left behind by a failed test.
func (p *clPodman) removeAll() {
	out := p.run(clCmd{}, "ps", "-a", "-q", "--no-trunc").out
	for _, id := range strings.Fields(out) {
		p.t.Errorf("podman container %s left behind", id)
		p.run(clCmd{}, "rm", "-f", id)
	}
}

// waitHelpersGone waits until no conmon or podman exit command of this
// setup runs any more.
func (p *clPodman) waitHelpersGone() {
	clPoll(p.t, "conmon and podman cleanup processes gone", func() bool {
		return len(clMatching(p.dir)) == 0
	})
}

// removeCgroupParent removes the cgroup parent (and the conmon cgroup in
// it) after checking that no container cgroup is left in it.
func (p *clPodman) removeCgroupParent() {
	clRemoveCgroupParent(p.t, p.cgParent, "libpod-*", "conmon")
}

// stateGone checks that husk's state dir for container id is gone.
func (p *clPodman) stateGone(id string) {
	p.t.Helper()
	if _, err := os.Stat(filepath.Join(huskDefaultRoot, id)); err == nil {
		p.t.Errorf("husk state dir %s left after podman removed the container", filepath.Join(huskDefaultRoot, id))
	}
	clCgroupGone(p.t, p.cgParent+"/libpod-"+id)
}

// cid reads a --cidfile.
func (p *clPodman) cid(path string) string {
	p.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		p.t.Fatalf("read cidfile: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// TestClientPodman drives husk through podman and conmon: foreground runs
// (stdout, the pinned rlimits, exit codes and podman's error mapping), a
// tty run, and a detached container with exec, pause/unpause, stop and rm.
func TestClientPodman(t *testing.T) {
	h := newHarness(t)
	p := clStartPodman(t, h)

	t.Run("run", func(t *testing.T) {
		p.t = t
		cidFile := filepath.Join(t.TempDir(), "cid")
		script := `echo hi; ulimit -n; ulimit -Hn; grep -E '^Seccomp:' /proc/self/status`
		out := p.must(p.runArgs("--rm", "--cidfile", cidFile, p.image, "sh", "-c", script)...)
		lines := nonEmptyLines(out)
		want := []string{"hi", "1024", "1024", "Seccomp:\t2"}
		if strings.Join(lines, "|") != strings.Join(want, "|") {
			t.Errorf("container output = %q, want lines %q (echo, nofile soft and hard, seccomp filter)", lines, want)
		}
		p.stateGone(p.cid(cidFile))
	})

	t.Run("exit-codes", func(t *testing.T) {
		p.t = t
		cases := []struct {
			name string
			args []string
			code int
			msg  string
		}{
			{"exit3", []string{"sh", "-c", "exit 3"}, 3, ""},
			{"missing", []string{"/no/such/cmd"}, 127, "not found"},
			{"not-executable", []string{"/etc/passwd"}, 126, "permission denied"},
		}
		for _, c := range cases {
			r := p.run(clCmd{}, append(p.runArgs("--rm", p.image), c.args...)...)
			if r.code != c.code {
				t.Errorf("%s: podman run exit code = %d, want %d (stderr %q)", c.name, r.code, c.code, r.err)
			}
			if c.msg != "" && !strings.Contains(strings.ToLower(r.err), c.msg) {
				t.Errorf("%s: podman stderr %q does not contain %q", c.name, r.err, c.msg)
			}
		}
	})

	t.Run("tty", func(t *testing.T) {
		p.t = t
		r := p.run(clCmd{tty: true}, p.runArgs("--rm", "-t", p.image, "sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty; exit 4")...)
		if r.code != 4 {
			t.Errorf("podman run -t exit code = %d, want 4 (stderr %q)", r.code, r.err)
		}
		if !regexp.MustCompile(`/dev/pts/\d+`).MatchString(r.out) || !strings.Contains(r.out, "stdio-is-tty") {
			t.Errorf("container has no terminal on its stdio: %q", r.out)
		}
	})

	t.Run("detached", func(t *testing.T) {
		p.t = t
		// The trap makes SIGTERM end the container at once with status 0,
		// so `stop` proves that the signal reached the container's init.
		script := `trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done`
		id := strings.TrimSpace(p.must(p.runArgs("-d", p.image, "sh", "-c", script)...))
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
			t.Fatalf("podman run -d printed %q, want a container ID", id)
		}
		cg := p.cgParent + "/libpod-" + id
		if _, err := os.Stat(filepath.Join(huskDefaultRoot, id, "state.json")); err != nil {
			t.Errorf("husk state of the podman container: %v", err)
		}

		clCheckExec(t, "podman", p.run, id)

		p.must("pause", id)
		if st := strings.TrimSpace(p.must("inspect", "--format", "{{.State.Status}}", id)); st != "paused" {
			t.Errorf("after pause, podman status = %q, want paused", st)
		}
		if st := clReadCgroup(t, "freezer", cg, "freezer.state"); st != "FROZEN" {
			t.Errorf("after pause, freezer.state = %q, want FROZEN", st)
		}
		p.must("unpause", id)
		if st := clReadCgroup(t, "freezer", cg, "freezer.state"); st != "THAWED" {
			t.Errorf("after unpause, freezer.state = %q, want THAWED", st)
		}

		p.must("stop", "-t", "60", id)
		st := strings.TrimSpace(p.must("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", id))
		if st != "exited 0" {
			t.Errorf("after stop, podman state = %q, want \"exited 0\" (the init's TERM trap)", st)
		}
		p.must("rm", id)
		p.stateGone(id)
	})
}

// clMatching lists the live processes whose command line contains mark.
func clMatching(mark string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || e.Name() == fmt.Sprint(os.Getpid()) || !strings.Contains(string(raw), mark) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && isZombie(string(stat)) {
			continue
		}
		out = append(out, strings.ReplaceAll(string(raw), "\x00", " "))
	}
	return out
}
