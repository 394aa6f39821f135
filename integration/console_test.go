//go:build linux

package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/tests/bundle"
)

// receiveConsole accepts one connection on l and returns the file
// descriptor passed with SCM_RIGHTS, as conmon and the shim do.
func receiveConsole(l *net.UnixListener) (*os.File, error) {
	if err := l.SetDeadline(time.Now().Add(commandTimeout)); err != nil {
		return nil, fmt.Errorf("console socket deadline: %w", err)
	}
	conn, err := l.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("accept console socket: %w", err)
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("read console socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("console socket: %d control messages (%v), want 1", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("console socket: %d fds (%v), want 1", len(fds), err)
	}
	// Non-blocking, so the Go poller manages it and reads can time out.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("console fd nonblock: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

// TestConsoleSocket: with "terminal": true and --console-socket the runtime
// sends the pty master over the socket, and the container's stdio is the
// pty slave (its controlling terminal).
func TestConsoleSocket(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	script := `tty; [ -t 0 ] && [ -t 1 ] && echo "stdio-is-tty"; echo "done-$0"`
	b := h.newBundle(id, []string{"sh", "-c", script, id}, bundle.WithSpec(func(s *specs.Spec) {
		s.Process.Terminal = true
	}))
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatalf("listen %s: %v", sock, err)
	}
	t.Cleanup(func() { l.Close() })

	type received struct {
		f   *os.File
		err error
	}
	got := make(chan received, 1)
	go func() {
		f, err := receiveConsole(l)
		got <- received{f, err}
	}()
	h.mustRun("create", "--bundle", b.Dir, "--console-socket", sock, id)
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	master := r.f
	t.Cleanup(func() { master.Close() })

	if err := master.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatalf("console read deadline: %v", err)
	}
	h.start(id)
	// Read until the slave side closes (EIO once the container is gone).
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil || strings.Contains(out.String(), "done-"+id) {
			if os.IsTimeout(err) {
				t.Errorf("console: no output end after %v", waitTimeout)
			}
			break
		}
	}
	h.waitStatus(id, "stopped")
	h.mustRun("delete", id)
	text := strings.ReplaceAll(out.String(), "\r", "")
	for _, want := range []string{"/dev/pts/", "stdio-is-tty", "done-" + id} {
		if !strings.Contains(text, want) {
			t.Errorf("console output %q lacks %q", text, want)
		}
	}
}
