//go:build linux

package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

const (
	// cgroupRoot is where the cgroup hierarchies are mounted.
	cgroupRoot = "/sys/fs/cgroup"
	// cgroupParent is the parent cgroup of every test container.
	cgroupParent = "husk-it"
	// commandTimeout bounds one runtime invocation; a hang is a failure.
	commandTimeout = 2 * time.Minute
	// waitTimeout bounds waiting for a status change. It only protects the
	// suite from hanging; no test asserts how fast anything happens.
	waitTimeout = time.Minute
)

// harness is one test's private runtime environment.
type harness struct {
	t      *testing.T
	root   string // the --root state directory
	tmp    string // the test's t.TempDir parent (bundles live there)
	prefix string // prefix of every container ID and cgroup of this test
	fds    map[string]string

	mu      sync.Mutex
	seq     int
	ids     []string
	bundles []string
}

var harnesses sync.Map // *testing.T -> *harness

// newHarness sets up a private --root for t and registers the leak check,
// which runs when the test (and its own cleanups) are done.
func newHarness(t *testing.T) *harness {
	t.Helper()
	// t.TempDir registers its removal on first use. Using it here, before the
	// leak check is registered, makes the removal run after the leak check,
	// so leaked mounts are detached before anything under them is deleted.
	tmp := filepath.Dir(t.TempDir())
	root, err := os.MkdirTemp("", "husk-it-root-")
	if err != nil {
		t.Fatalf("create state root: %v", err)
	}
	h := &harness{t: t, root: root, tmp: tmp, prefix: "it-" + slug(t.Name()) + "-" + randHex(3)}
	// Cleanups run last-registered first: the leak check runs before the
	// root is removed.
	t.Cleanup(func() {
		harnesses.Delete(t)
		if err := os.RemoveAll(root); err != nil {
			t.Errorf("remove state root: %v", err)
		}
	})
	h.fds = openFDs()
	t.Cleanup(h.leakCheck)
	harnesses.Store(t, h)
	return h
}

// runHusk runs the runtime with the test's --root prepended to args and
// returns its stdout, stderr and exit code.
func runHusk(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	v, ok := harnesses.Load(t)
	if !ok {
		t.Fatal("runHusk: newHarness(t) was not called")
	}
	return v.(*harness).run(args...)
}

// run runs the runtime with --root prepended to args.
func (h *harness) run(args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	return h.runRaw(append([]string{"--root", h.root}, args...)...)
}

// runRaw runs the runtime with exactly args and fails the test if it could
// not be run at all (missing, timed out, killed by a signal).
func (h *harness) runRaw(args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	stdout, stderr, code, err := h.invoke(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return stdout, stderr, code
}

// invoke runs the runtime with exactly args; it is safe to call from any
// goroutine. Output goes to files, not pipes: a container inherits the
// runtime's stdio, and a pipe would keep the reader waiting for as long as
// the container lives.
func (h *harness) invoke(args ...string) (stdout, stderr string, code int, err error) {
	name := "husk " + strings.Join(args, " ")
	outF, err := os.CreateTemp("", "husk-it-out-")
	if err != nil {
		return "", "", 0, fmt.Errorf("%s: stdout file: %w", name, err)
	}
	defer func() {
		outF.Close()
		os.Remove(outF.Name())
	}()
	errF, err := os.CreateTemp("", "husk-it-err-")
	if err != nil {
		return "", "", 0, fmt.Errorf("%s: stderr file: %w", name, err)
	}
	defer func() {
		errF.Close()
		os.Remove(errF.Name())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, huskBinary, args...)
	cmd.Stdout = outF
	cmd.Stderr = errF
	runErr := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return "", "", 0, fmt.Errorf("%s: timed out after %v", name, commandTimeout)
	case errors.As(runErr, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "", "", 0, fmt.Errorf("%s: killed by signal %v", name, ws.Signal())
		}
		code = exitErr.ExitCode()
	case runErr != nil:
		return "", "", 0, fmt.Errorf("%s: %w", name, runErr)
	}
	out, err := os.ReadFile(outF.Name())
	if err != nil {
		return "", "", 0, fmt.Errorf("%s: read stdout: %w", name, err)
	}
	errOut, err := os.ReadFile(errF.Name())
	if err != nil {
		return "", "", 0, fmt.Errorf("%s: read stderr: %w", name, err)
	}
	h.t.Logf("%s -> %d\n  stdout: %s\n  stderr: %s", name, code, trimForLog(string(out)), trimForLog(string(errOut)))
	return string(out), string(errOut), code, nil
}

func trimForLog(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = s[:2000] + "..."
	}
	return s
}

// newID returns a fresh container ID that carries the test's prefix.
func (h *harness) newID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	id := fmt.Sprintf("%s-%d", h.prefix, h.seq)
	h.ids = append(h.ids, id)
	return id
}

// newBundle builds a bundle for container id: args as process.args, the
// container's cgroup under /husk-it, then opts.
func (h *harness) newBundle(id string, args []string, opts ...bundle.Option) *bundle.Bundle {
	h.t.Helper()
	all := append([]bundle.Option{
		bundle.Args(args...),
		bundle.WithSpec(func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + cgroupParent + "/" + id }),
	}, opts...)
	b := bundle.New(h.t, all...)
	h.mu.Lock()
	h.bundles = append(h.bundles, b.Dir)
	h.mu.Unlock()
	return b
}

// sleeper is a long-running process whose command line carries id, so the
// leak check can find it by name.
func sleeper(id string) []string {
	return []string{"sh", "-c", "while :; do sleep 1; done", id}
}

// mustRun runs the runtime and fails the test unless it exits 0.
func (h *harness) mustRun(args ...string) string {
	h.t.Helper()
	out, errOut, code := h.run(args...)
	if code != 0 {
		h.t.Fatalf("husk %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// create runs `create --bundle DIR ID`.
func (h *harness) create(id string, b *bundle.Bundle) {
	h.t.Helper()
	h.mustRun("create", "--bundle", b.Dir, id)
}

// start runs `start ID`.
func (h *harness) start(id string) {
	h.t.Helper()
	h.mustRun("start", id)
}

// containerState is the JSON printed by `state`.
type containerState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// state runs `state ID` and decodes it.
func (h *harness) state(id string) containerState {
	h.t.Helper()
	out := h.mustRun("state", id)
	var st containerState
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		h.t.Fatalf("decode state of %s: %v: %q", id, err, out)
	}
	return st
}

// waitStatus polls `state ID` until it reports status.
func (h *harness) waitStatus(id, status string) containerState {
	h.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := h.state(id)
		if st.Status == status {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("container %s: status %q, still not %q after %v", id, st.Status, status, waitTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expectError checks that a failed command exited with code 1, printed
// exactly one error line on stderr and that the message contains want.
func expectError(t *testing.T, stderr string, code int, want string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	lines := nonEmptyLines(stderr)
	if len(lines) != 1 {
		t.Errorf("stderr has %d lines, want exactly 1 error line: %q", len(lines), stderr)
	}
	if msg := errorMessage(stderr); !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
}

var logfmtMsg = regexp.MustCompile(`\bmsg=("(?:[^"\\]|\\.)*"|\S+)`)

// errorMessage returns the last error message on stderr, decoding a logrus
// text line (time=... level=error msg="...") if the runtime printed one.
func errorMessage(stderr string) string {
	lines := nonEmptyLines(stderr)
	if len(lines) == 0 {
		return ""
	}
	last := lines[len(lines)-1]
	if m := logfmtMsg.FindStringSubmatch(last); m != nil && strings.Contains(last, "level=") {
		if s, err := strconv.Unquote(m[1]); err == nil {
			return s
		}
		return m[1]
	}
	return last
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// slug turns a test name into a short string valid in container IDs.
func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	s = strings.TrimPrefix(s, "test")
	s = strings.Trim(s, "-")
	if len(s) > 24 {
		s = strings.Trim(s[:24], "-")
	}
	if s == "" {
		s = "t"
	}
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// writeFile writes a file inside a bundle's rootfs.
func writeFile(t *testing.T, b *bundle.Bundle, rel, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(b.Rootfs, rel)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}
