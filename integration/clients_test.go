//go:build linux

package integration

// Real clients (containerd + ctr, podman, dockerd + docker) driving husk as
// their OCI runtime. Every client runs privately: its root, state, sockets
// and config files live in temp directories, every daemon is stopped in
// t.Cleanup, and the leak check of the harness runs after each test. The
// container's cgroups are placed under /husk-it/<test prefix> so the leak
// check also proves that the runtime removed them.
//
// The tests live in clients_ctrd_test.go, clients_podman_test.go and
// clients_docker_test.go; this file holds what they share: finding (or
// installing) the clients, running their commands and building the busybox
// image they import offline.

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/bundle"
)

// clImageRef is the name of the busybox image imported into every client.
const clImageRef = "huskbox:latest"

// clDockerDir is where scripts/deps-clients.sh extracts the docker package.
func clDockerDir() string { return filepath.Join(repoRoot, "build", "clients", "docker") }

var (
	clDepsOnce sync.Once
	clDepsErr  error
)

// clRequire returns the absolute paths of bins (names looked up in PATH, or
// absolute paths). When one is missing it runs scripts/deps-clients.sh once
// and looks again; the test is skipped only when the installer cannot
// provide them (for example without network).
func clRequire(t *testing.T, bins ...string) []string {
	t.Helper()
	paths, missing := clLook(bins)
	if len(missing) == 0 {
		return paths
	}
	clDepsOnce.Do(func() {
		script := filepath.Join(repoRoot, "scripts", "deps-clients.sh")
		out, err := exec.Command(script).CombinedOutput()
		if err != nil {
			clDepsErr = fmt.Errorf("%s: %w: %s", script, err, strings.TrimSpace(string(out)))
		}
	})
	paths, missing = clLook(bins)
	if len(missing) > 0 {
		t.Skipf("client binaries %v are missing and could not be installed: %v", missing, clDepsErr)
	}
	return paths
}

func clLook(bins []string) (paths, missing []string) {
	for _, b := range bins {
		if filepath.IsAbs(b) {
			if fi, err := os.Stat(b); err == nil && fi.Mode()&0o111 != 0 {
				paths = append(paths, b)
				continue
			}
			missing = append(missing, b)
			continue
		}
		p, err := exec.LookPath(b)
		if err != nil {
			missing = append(missing, b)
			continue
		}
		paths = append(paths, p)
	}
	return paths, missing
}

// clResult is what one client command did.
type clResult struct {
	out, err string
	code     int
}

// clCmd describes one client command to run.
type clCmd struct {
	env   []string // added to the test's environment
	stdin string
	// tty runs the command through script(1), so it gets a terminal.
	tty bool
}

// clRun runs name args with a timeout and returns its output and exit code.
// Output goes to files: a container may inherit the client's stdio and keep
// a pipe open longer than the client lives.
func clRun(t *testing.T, c clCmd, name string, args ...string) clResult {
	t.Helper()
	line := name + " " + strings.Join(args, " ")
	outF, err := os.CreateTemp("", "husk-cl-out-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { outF.Close(); os.Remove(outF.Name()) }()
	errF, err := os.CreateTemp("", "husk-cl-err-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { errF.Close(); os.Remove(errF.Name()) }()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if c.tty {
		// script(1) gives the command a pty; -e returns its exit code.
		cmd = exec.CommandContext(ctx, "script", "-q", "-e", "-c", clShellQuote(append([]string{name}, args...)), "/dev/null")
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdout = outF
	cmd.Stderr = errF
	if c.stdin != "" {
		cmd.Stdin = strings.NewReader(c.stdin)
	}
	runErr := cmd.Run()
	var res clResult
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s: timed out after %v", line, commandTimeout)
	case errors.As(runErr, &exitErr):
		res.code = exitErr.ExitCode()
	case runErr != nil:
		t.Fatalf("%s: %v", line, runErr)
	}
	out, _ := os.ReadFile(outF.Name())
	errOut, _ := os.ReadFile(errF.Name())
	res.out, res.err = string(out), string(errOut)
	t.Logf("%s -> %d\n  stdout: %s\n  stderr: %s", line, res.code, trimForLog(res.out), trimForLog(res.err))
	return res
}

// clMust runs a client command and fails the test unless it exits 0.
func clMust(t *testing.T, c clCmd, name string, args ...string) string {
	t.Helper()
	r := clRun(t, c, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d: %s", filepath.Base(name), strings.Join(args, " "), r.code, strings.TrimSpace(r.err))
	}
	return r.out
}

func clShellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// clDaemon is a background daemon started by a test.
type clDaemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// clStartDaemon starts name args in the background with its output in a
// log file under dir, and stops it (SIGTERM, then SIGKILL) in t.Cleanup.
func clStartDaemon(t *testing.T, dir, name string, env []string, args ...string) *clDaemon {
	t.Helper()
	logPath := filepath.Join(dir, filepath.Base(name)+".log")
	logF, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logF
	cmd.Stderr = logF
	// Its own process group: a terminal's signals are not its business.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logF.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	logF.Close()
	d := &clDaemon{name: filepath.Base(name), cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.done) }()
	t.Cleanup(d.stop)
	return d
}

// stop terminates the daemon and waits for it.
func (d *clDaemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// logTail returns the end of the daemon's log, for failure messages.
func (d *clDaemon) logTail() string {
	data, _ := os.ReadFile(d.log)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// clWaitSocket waits until path accepts connections or the daemon dies.
func clWaitSocket(t *testing.T, d *clDaemon, path string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		unix.Close(fd)
		if err == nil {
			return
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited before listening on %s:\n%s", d.name, path, d.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after %v:\n%s", d.name, path, waitTimeout, d.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clPoll polls cond until it holds; it only guards against hanging.
func clPoll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, waitTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clTempDir makes a short temp directory (unix socket paths are limited to
// 108 bytes) and removes it in t.Cleanup, first detaching any mount a
// daemon left under it, so that a leaked mount is reported by the leak
// check rather than deleted through.
func clTempDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if m := leakedMounts([]string{dir}); len(m) > 0 {
			t.Errorf("mounts left under %s: %v", dir, m)
			for i := len(m) - 1; i >= 0; i-- {
				_ = unix.Unmount(m[i], unix.MNT_DETACH)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// clKillMatching SIGKILLs the processes whose command line contains mark
// (leftover shims of a stopped daemon) and reports them.
func clKillMatching(t *testing.T, mark string) {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(raw), mark) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && isZombie(string(stat)) {
			continue
		}
		t.Errorf("process %d left running: %s", pid, strings.ReplaceAll(string(raw), "\x00", " "))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// clImage is the busybox image, built offline.
type clImage struct {
	// Rootfs is a tarball of the root filesystem (for `podman import`).
	Rootfs string
	// Archive is a `docker save` archive holding the image as clImageRef
	// (for `docker load` and `ctr image import`).
	Archive string
}

// clBuildImage builds the busybox rootfs of the tests/bundle package into
// dir as a rootfs tarball and a docker image archive.
func clBuildImage(t *testing.T, dir string) clImage {
	t.Helper()
	rootfs := filepath.Join(dir, "rootfs")
	if err := bundle.BuildRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	img := clImage{Rootfs: filepath.Join(dir, "rootfs.tar"), Archive: filepath.Join(dir, "image.tar")}
	layerDigest, err := clTarDir(rootfs, img.Rootfs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(rootfs); err != nil {
		t.Fatal(err)
	}
	if err := clWriteDockerArchive(img.Archive, img.Rootfs, layerDigest); err != nil {
		t.Fatal(err)
	}
	return img
}

// clTarDir writes dir as a tar file (the image layer) and returns the
// sha256 hex digest of the tar.
func clTarDir(dir, dst string) (string, error) {
	f, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(f, h))
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.ModTime = time.Unix(0, 0)
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			if _, err := io.Copy(tw, in); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("tar %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("tar %s: %w", dir, err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// clWriteDockerArchive writes the `docker save` format: manifest.json, the
// image config and the uncompressed layer.
func clWriteDockerArchive(dst, layer, layerDigest string) error {
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      "1970-01-01T00:00:00Z",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": []string{"sh"},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerDigest}},
		"history": []map[string]any{{"created": "1970-01-01T00:00:00Z", "created_by": "husk integration tests"}},
	})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(config)
	configName := hex.EncodeToString(sum[:]) + ".json"
	layerName := layerDigest + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   configName,
		"RepoTags": []string{clImageRef},
		"Layers":   []string{layerName},
	}})
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: layerDigest + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	layerData, err := os.ReadFile(layer)
	if err != nil {
		return err
	}
	for _, e := range []struct {
		name string
		data []byte
	}{{configName, config}, {layerName, layerData}, {"manifest.json", manifest}} {
		if err := add(e.name, e.data); err != nil {
			return fmt.Errorf("write image archive %s: %w", dst, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write image archive %s: %w", dst, err)
	}
	return f.Close()
}

// clCgroupGone checks that the container's cgroup directory is gone from
// the memory and freezer hierarchies (the runtime's delete removes it).
func clCgroupGone(t *testing.T, cgroupPath string) {
	t.Helper()
	for _, ctrl := range []string{"memory", "freezer", "pids"} {
		p := filepath.Join(cgroupRoot, ctrl, cgroupPath)
		if _, err := os.Stat(p); err == nil {
			t.Errorf("cgroup %s still exists after the container was removed", p)
		}
	}
}

// clReadCgroup reads a cgroup v1 file of cgroupPath under ctrl.
func clReadCgroup(t *testing.T, ctrl, cgroupPath, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cgroupRoot, ctrl, cgroupPath, file))
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// clRemoveCgroupParent removes the cgroup parent a client placed its
// containers in (runtimes create parents but never remove them), after
// reporting any container cgroup (matching pattern) still in it. helpers
// are child cgroups the client itself uses (podman's conmon cgroup).
func clRemoveCgroupParent(t *testing.T, parent, pattern string, helpers ...string) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(cgroupRoot, "*", parent))
	for _, dir := range dirs {
		left, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, l := range left {
			if fi, err := os.Stat(l); err == nil && fi.IsDir() {
				t.Errorf("container cgroup %s left behind", l)
			}
		}
		for _, hd := range helpers {
			_ = os.Remove(filepath.Join(dir, hd))
		}
		if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
			t.Errorf("remove cgroup parent %s: %v", dir, err)
		}
	}
}

// clRemoveIfNew handles the directories a client creates at fixed paths
// whatever its configuration says (containerd's shim socket dir
// /run/containerd/s, dockerd's /run/docker/plugins): if dir does not exist
// now, it and its subdirs are removed in t.Cleanup, as long as they are
// empty (a daemon started meanwhile by someone else keeps them).
func clRemoveIfNew(t *testing.T, dir string, subdirs ...string) {
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		return
	}
	t.Cleanup(func() {
		for _, s := range subdirs {
			_ = os.Remove(filepath.Join(dir, s))
		}
		_ = os.Remove(dir)
	})
}

// clCheckExec checks a client's exec into the running container id (whose pid 1 runs a trap loop):
// the exit code and output of a plain exec, and a terminal with exec -t.
func clCheckExec(t *testing.T, client string, run func(clCmd, ...string) clResult, id string) {
	t.Helper()
	r := run(clCmd{}, "exec", id, "sh", "-c", `echo exec-$$; cat /proc/1/cmdline | tr '\0' ' '; echo; exit 5`)
	if r.code != 5 {
		t.Errorf("%s exec exit code = %d, want 5 (stderr %q)", client, r.code, r.err)
	}
	if l := nonEmptyLines(r.out); len(l) != 2 || l[0] == "exec-1" || !strings.Contains(l[1], "trap") {
		t.Errorf("%s exec stdout = %q, want exec-<pid> and the container's pid 1 command", client, r.out)
	}
	r = run(clCmd{tty: true}, "exec", "-t", id, "tty")
	if r.code != 0 || !regexp.MustCompile(`/dev/pts/\d+`).MatchString(r.out) {
		t.Errorf("%s exec -t: exit %d, stdout %q, want a /dev/pts terminal", client, r.code, r.out)
	}
}
