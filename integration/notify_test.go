//go:build linux

package integration

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotifySocket: with $NOTIFY_SOCKET set, the container gets its own socket and `run -d` returns only
// after the container's READY=1 was relayed to the host's socket, with the messages before it.
func TestNotifySocket(t *testing.T) {
	h := newHarness(t)
	tool := filepath.Join(t.TempDir(), "sdnotify")
	build := exec.Command("go", "build", "-o", tool, "../tests/sdnotify")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build sdnotify: %v: %s", err, out)
	}
	hostSock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: hostSock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", hostSock)

	id := h.newID()
	b := h.newBundle(id, []string{"sh", "-c", `test "$NOTIFY_SOCKET" = /run/notify/notify.sock || exit 9; sdnotify STATUS=warming; sdnotify READY=1; exec sleep 1000`})
	data, err := os.ReadFile(tool)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Rootfs, "bin", "sdnotify"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := h.run("run", "-d", "--bundle", b.Dir, id)
	if code != 0 {
		t.Fatalf("run -d: exit %d: %s", code, stderr)
	}
	defer h.run("delete", "--force", id)
	// Both messages were relayed before run returned: they are already queued on our socket.
	conn.SetReadDeadline(time.Now().Add(time.Second))
	var got []string
	buf := make([]byte, 4096)
	for len(got) < 2 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read host notify socket after %q: %v", got, err)
		}
		got = append(got, string(buf[:n]))
	}
	if strings.Join(got, "|") != "STATUS=warming|READY=1" {
		t.Fatalf("host socket got %q, want STATUS=warming then READY=1", got)
	}
	if st := h.state(id); st.Status != "running" {
		t.Fatalf("status %q after READY, want running", st.Status)
	}
}
