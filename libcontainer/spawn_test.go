package libcontainer

import (
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The sealed binary is executed as /proc/self/fd/N by syscall.ForkExec's child, after that child has
// installed the process's files. An N just above the highest of those files is where the child puts
// its error pipe: the execve then opens the pipe (EACCES). spawn executes a copy from exeFdAbove.
func TestExeFdAboveSurvivesForkExec(t *testing.T) {
	exe, err := os.Open("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	defer exe.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	// An extra file at 99 and the binary at 100, as when the seal is opened before the other fds.
	const extraFd, exeAt = 99, 100
	if err := unix.Dup3(int(devnull.Fd()), extraFd, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(extraFd)
	if err := unix.Dup3(int(exe.Fd()), exeAt, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(exeAt)
	files := []uintptr{0, 1, 2, extraFd}
	run := func(fd int) error {
		pid, err := syscall.ForkExec("/proc/self/fd/"+strconv.Itoa(fd), []string{"true"}, &syscall.ProcAttr{Files: files})
		if err != nil {
			return err
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			return err
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			t.Fatalf("true: %v", ws)
		}
		return nil
	}
	// The hazard is real: executing fd 100 itself fails.
	if err := run(exeAt); err == nil {
		t.Fatal("exec of /proc/self/fd/100 with files up to 99 worked: the test no longer shows the hazard")
	}
	fd, err := exeFdAbove(exeAt, files)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := run(fd); err != nil {
		t.Fatalf("exec of the copy at fd %d: %v", fd, err)
	}
}
