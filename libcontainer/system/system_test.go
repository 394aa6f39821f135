package system

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func TestStartTimeAndState(t *testing.T) {
	st, err := StartTime(os.Getpid())
	if err != nil || st == 0 {
		t.Fatalf("StartTime(self) = %d, %v", st, err)
	}
	s, _, err := Stat(os.Getpid())
	if err != nil || s != 'R' {
		t.Fatalf("Stat(self) state = %q, %v", s, err)
	}
	if _, err := StartTime(-5); err == nil {
		t.Fatal("StartTime(-5) succeeded")
	}
}

// A command name with spaces and ')' must not shift the fields.
func TestStatTrickyComm(t *testing.T) {
	dir := t.TempDir()
	name := dir + "/a) b ) c"
	if err := os.Symlink("/bin/sleep", name); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	st, err := StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := StartTime(os.Getpid())
	if st < self {
		t.Fatalf("child start time %d before own %d", st, self)
	}
	if _, _, err := Stat(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
}

func TestZombieState(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Wait() })
	pidfd, err := PidfdOpen(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	exited, err := WaitPidfd(pidfd, -1)
	if err != nil || !exited {
		t.Fatalf("WaitPidfd = %v, %v", exited, err)
	}
	s, _, err := Stat(cmd.Process.Pid)
	if err != nil || s != 'Z' {
		t.Fatalf("Stat(zombie) state = %q, %v", s, err)
	}
}

func TestPidfdSignalAndWait(t *testing.T) {
	cmd := startSleeper(t)
	pidfd, err := PidfdOpen(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	exited, err := WaitPidfd(pidfd, 0)
	if err != nil || exited {
		t.Fatalf("WaitPidfd(live, 0) = %v, %v", exited, err)
	}
	exited, err = WaitPidfd(pidfd, 10*time.Millisecond)
	if err != nil || exited {
		t.Fatalf("WaitPidfd(live, 10ms) = %v, %v", exited, err)
	}
	if err := PidfdSendSignal(pidfd, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	exited, err = WaitPidfd(pidfd, -1)
	if err != nil || !exited {
		t.Fatalf("WaitPidfd(killed) = %v, %v", exited, err)
	}
	if _, err := PidfdOpen(-1); err == nil {
		t.Fatal("PidfdOpen(-1) succeeded")
	}
}
