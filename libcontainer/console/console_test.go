package console

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const childEnv = "HUSK_CONSOLE_TEST_CHILD"

// TestMain runs SetControlling in a re-executed child: it starts a new
// session, which must not happen to the test process itself.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "controlling" {
		if err := childControlling(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func childControlling() error {
	// Keep the real stdout to report on; SetControlling replaces fd 1.
	out, err := unix.Dup(1)
	if err != nil {
		return err
	}
	report := os.NewFile(uintptr(out), "report")
	master, peer, err := NewPty("/dev/ptmx")
	if err != nil {
		return err
	}
	// Closing the master would hang up our own session: keep it open
	// until exit, and ignore the SIGHUP of the final hang-up.
	signal.Ignore(unix.SIGHUP)
	_ = master
	if err := SetControlling(peer); err != nil {
		return err
	}
	var lines []string
	for i := 0; i <= 2; i++ {
		l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", i))
		if err != nil {
			return err
		}
		lines = append(lines, l)
	}
	sid, _ := unix.Getsid(0)
	pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	if err != nil {
		return fmt.Errorf("TIOCGPGRP: %w", err)
	}
	lines = append(lines, peer.Name(), fmt.Sprint(sid == unix.Getpid()), fmt.Sprint(pgrp == unix.Getpid()))
	_, err = fmt.Fprintln(report, strings.Join(lines, " "))
	return err
}

func newPty(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, p, err := NewPty("/dev/ptmx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); p.Close() })
	return m, p
}

func TestNewPtyAndSize(t *testing.T) {
	m, p := newPty(t)
	if !strings.HasPrefix(p.Name(), "/dev/pts/") {
		t.Fatalf("peer name %q", p.Name())
	}
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", p.Fd()))
	if err != nil || link != p.Name() {
		t.Fatalf("peer fd points to %q (%v), named %q", link, err, p.Name())
	}
	for _, f := range []*os.File{m, p} {
		fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		if err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Fatalf("%s not close-on-exec", f.Name())
		}
	}
	if err := SetSize(m, &specs.Box{Height: 33, Width: 101}); err != nil {
		t.Fatal(err)
	}
	ws, err := unix.IoctlGetWinsize(int(p.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Row != 33 || ws.Col != 101 {
		t.Fatalf("winsize = %+v, %v", ws, err)
	}
	if err := SetSize(m, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewPty("/dev/null"); err == nil {
		t.Fatal("NewPty(/dev/null) succeeded")
	}
}

func TestSendRecvFd(t *testing.T) {
	m, p := newPty(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	if err := SendFd(a, m, p.Name()); err != nil {
		t.Fatal(err)
	}
	got, err := RecvFd(b)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.Name() != p.Name() {
		t.Fatalf("received name %q, want %q", got.Name(), p.Name())
	}
	if fl, err := unix.FcntlInt(got.Fd(), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Fatal("received fd is not close-on-exec")
	}
	// The received descriptor is the same master: bytes written to the peer
	// come out of it.
	if _, err := p.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := got.Read(buf)
	if err != nil || !bytes.Contains(buf[:n], []byte("hello")) {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	// A message without a descriptor is rejected.
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := RecvFd(b); err == nil {
		t.Fatal("RecvFd without SCM_RIGHTS succeeded")
	}
	if err := SendFd(a, m, ""); err == nil {
		t.Fatal("SendFd with empty name succeeded")
	}
	a.Close()
	if _, err := RecvFd(b); err == nil {
		t.Fatal("RecvFd on closed peer succeeded")
	} else if err == io.EOF {
		t.Fatal("bare EOF")
	}
}

func TestSetControllingInChild(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=controlling")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, stderr.String())
	}
	f := strings.Fields(string(out))
	if len(f) != 6 || f[0] != f[3] || f[1] != f[3] || f[2] != f[3] || f[4] != "true" || f[5] != "true" {
		t.Fatalf("child reported %q", out)
	}
}
