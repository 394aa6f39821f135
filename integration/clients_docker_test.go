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

// clDocker is a private dockerd (from the package extracted by
// scripts/deps-clients.sh) with husk registered as runtime "husk".
type clDocker struct {
	t        *testing.T
	docker   string
	dir      string
	env      []string
	execRoot string
	cgParent string
}

// clStartDocker starts dockerd with private data, exec and config dirs, no
// iptables and no bridge, and loads the busybox image archive.
func clStartDocker(t *testing.T, h *harness) *clDocker {
	t.Helper()
	dockerDir := clDockerDir()
	bins := clRequire(t, filepath.Join(dockerDir, "usr/sbin/dockerd"), filepath.Join(dockerDir, "usr/bin/docker"),
		"containerd", "containerd-shim-runc-v2")
	dir := clTempDir(t, "husk-docker-")
	d := &clDocker{t: t, docker: bins[1], dir: dir, execRoot: filepath.Join(dir, "exec")}
	d.cgParent = "/" + cgroupParent + "/" + h.prefix + "-docker"
	for _, sub := range []string{"data", "exec", "cli"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// dockerd 20.10 writes its trust key to /etc/docker/key.json unless
	// daemon.json says otherwise (there is no flag for it).
	daemonJSON := fmt.Sprintf("{\"deprecated-key-path\": %q}\n", filepath.Join(dir, "key.json"))
	files := map[string]string{"daemon.json": daemonJSON, "cli/config.json": "{}\n"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "docker.sock")
	d.env = []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + filepath.Join(dir, "cli")}
	// dockerd finds docker-init and docker-proxy next to itself in PATH;
	// containerd and the shim come from the system.
	env := []string{"PATH=" + filepath.Join(dockerDir, "usr/bin") + ":" + filepath.Join(dockerDir, "usr/sbin") + ":" + os.Getenv("PATH")}
	t.Cleanup(func() { clRemoveCgroupParent(t, d.cgParent, "*") })
	// dockerd always creates /run/docker/plugins (plugin discovery), and
	// the shim its socket dir /run/containerd/s.
	clRemoveIfNew(t, "/run/docker", "plugins")
	clRemoveIfNew(t, "/run/containerd", "s")
	// Runs after dockerd is stopped: nothing of it (its containerd, shims)
	// may outlive it.
	t.Cleanup(func() { clKillMatching(t, dir) })
	daemon := clStartDaemon(t, dir, bins[0], env,
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", d.execRoot,
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"-H", "unix://"+sock,
		"--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
		"--bridge=none", "--userland-proxy=false",
		"--add-runtime", "husk="+huskBinary)
	clWaitSocket(t, daemon, sock)
	// Runs before dockerd is stopped.
	t.Cleanup(d.removeAll)

	img := clBuildImage(t, t.TempDir())
	if out := d.must("load", "-i", img.Archive); !strings.Contains(out, clImageRef) {
		t.Fatalf("docker load did not load %s: %q", clImageRef, out)
	}
	return d
}

// run runs the docker CLI against the private daemon.
func (d *clDocker) run(c clCmd, args ...string) clResult {
	d.t.Helper()
	c.env = append(append([]string(nil), d.env...), c.env...)
	return clRun(d.t, c, d.docker, args...)
}

// must runs docker and fails the test unless it exits 0.
func (d *clDocker) must(args ...string) string {
	d.t.Helper()
	r := d.run(clCmd{}, args...)
	if r.code != 0 {
		d.t.Fatalf("docker %s: exit %d: %s", strings.Join(args, " "), r.code, strings.TrimSpace(r.err))
	}
	return r.out
}

// runArgs are the `docker run` options every test container gets.
func (d *clDocker) runArgs(extra ...string) []string {
	return append([]string{"run", "--runtime", "husk", "--network", "none", "--cgroup-parent", d.cgParent}, extra...)
}

// removeAll force-removes every container left behind by a failed test.
func (d *clDocker) removeAll() {
	out := d.run(clCmd{}, "ps", "-a", "-q", "--no-trunc").out
	for _, id := range strings.Fields(out) {
		d.t.Errorf("docker container %s left behind", id)
		d.run(clCmd{}, "rm", "-f", id)
	}
}

// stateGone checks that husk's state dir and cgroup of container id are
// gone; the shim runs husk with --root <exec-root>/runtime-runc/moby.
func (d *clDocker) stateGone(id string) {
	d.t.Helper()
	state := filepath.Join(d.execRoot, "runtime-runc", "moby", id)
	if _, err := os.Stat(state); err == nil {
		d.t.Errorf("husk state dir %s left after docker removed the container", state)
	}
	clCgroupGone(d.t, d.cgParent+"/"+id)
}

// TestClientDocker drives husk through dockerd (its containerd and the
// runc v2 shim): foreground runs with docker's exit-code mapping, which
// depends on husk's error text, and a detached container with exec,
// pause/unpause, update --memory, stop and rm.
func TestClientDocker(t *testing.T) {
	h := newHarness(t)
	d := clStartDocker(t, h)

	t.Run("run", func(t *testing.T) {
		d.t = t
		cidFile := filepath.Join(t.TempDir(), "cid")
		script := `echo hi; hostname; grep -E '^(Seccomp|CapEff):' /proc/self/status`
		out := d.must(d.runArgs("--rm", "--cidfile", cidFile, "--hostname", "husk-docker", clImageRef, "sh", "-c", script)...)
		lines := nonEmptyLines(out)
		// Docker's default capability set is 0x00000000a80425fb.
		want := []string{"hi", "husk-docker", "CapEff:\t00000000a80425fb", "Seccomp:\t2"}
		if strings.Join(lines, "|") != strings.Join(want, "|") {
			t.Errorf("container output = %q, want lines %q", lines, want)
		}
		cid, err := os.ReadFile(cidFile)
		if err != nil {
			t.Fatal(err)
		}
		d.stateGone(strings.TrimSpace(string(cid)))
	})

	t.Run("exit-codes", func(t *testing.T) {
		d.t = t
		cases := []struct {
			name string
			args []string
			code int
			msg  string
		}{
			{"exit3", []string{"sh", "-c", "exit 3"}, 3, ""},
			{"missing", []string{"/no/such/cmd"}, 127, "no such file or directory"},
			{"not-executable", []string{"/etc/passwd"}, 126, "permission denied"},
		}
		for _, c := range cases {
			r := d.run(clCmd{}, append(d.runArgs("--rm", clImageRef), c.args...)...)
			if r.code != c.code {
				t.Errorf("%s: docker run exit code = %d, want %d (stderr %q)", c.name, r.code, c.code, r.err)
			}
			// Docker's CLI maps these texts case-sensitively.
			if c.msg != "" && !strings.Contains(r.err, c.msg) {
				t.Errorf("%s: docker stderr %q does not contain %q", c.name, r.err, c.msg)
			}
		}
	})

	t.Run("detached", func(t *testing.T) {
		d.t = t
		script := `trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done`
		id := strings.TrimSpace(d.must(d.runArgs("-d", clImageRef, "sh", "-c", script)...))
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
			t.Fatalf("docker run -d printed %q, want a container ID", id)
		}
		cg := d.cgParent + "/" + id
		if _, err := os.Stat(filepath.Join(d.execRoot, "runtime-runc", "moby", id, "state.json")); err != nil {
			t.Errorf("husk state of the docker container: %v", err)
		}

		clCheckExec(t, "docker", d.run, id)

		d.must("pause", id)
		if st := clReadCgroup(t, "freezer", cg, "freezer.state"); st != "FROZEN" {
			t.Errorf("after pause, freezer.state = %q, want FROZEN", st)
		}
		d.must("unpause", id)
		if st := clReadCgroup(t, "freezer", cg, "freezer.state"); st != "THAWED" {
			t.Errorf("after unpause, freezer.state = %q, want THAWED", st)
		}

		// update sends zeros for what it leaves alone; the new limit must
		// show up inside the container, and the cpu shares stay as they are.
		shares := clReadCgroup(t, "cpu", cg, "cpu.shares")
		d.must("update", "--memory", "64m", "--memory-swap", "128m", id)
		r := d.run(clCmd{}, "exec", id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
		if strings.TrimSpace(r.out) != "67108864" {
			t.Errorf("memory limit seen inside the container after update = %q, want 67108864", r.out)
		}
		if v := clReadCgroup(t, "memory", cg, "memory.limit_in_bytes"); v != "67108864" {
			t.Errorf("memory.limit_in_bytes after update = %s, want 67108864", v)
		}
		if v := clReadCgroup(t, "cpu", cg, "cpu.shares"); v != shares {
			t.Errorf("cpu.shares changed by a memory update: %s -> %s", shares, v)
		}

		d.must("stop", "-t", "60", id)
		if st := strings.TrimSpace(d.must("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", id)); st != "exited 0" {
			t.Errorf("after stop, docker state = %q, want \"exited 0\" (the init's TERM trap)", st)
		}
		d.must("rm", id)
		d.stateGone(id)
	})
}
