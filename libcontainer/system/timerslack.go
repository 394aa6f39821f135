package system

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// Timer slack: husk's processes run with a coarser timer slack than their caller's, set by nsenter's
// constructor before the Go runtime starts (see nsenter.c and docs/performance.md); what husk starts
// for others gets the caller's slack back.
var callerSlack, huskSlack uint64

// SetTimerSlack records the caller's timer slack and this process's, as nsenter's constructor left
// them; zeros mean the process runs with the caller's.
func SetTimerSlack(caller, husk uint64) { callerSlack, huskSlack = caller, husk }

// CallerTimerSlack returns the caller's timer slack in ns, or 0 when this process runs with it.
func CallerTimerSlack() uint64 { return callerSlack }

// RestoreTimerSlack gives the calling thread the caller's timer slack back, for a process that is
// about to execve the container's program (on this thread).
func RestoreTimerSlack() error {
	if callerSlack == 0 {
		return nil
	}
	return unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(callerSlack), 0, 0, 0)
}

// WithCallerTimerSlack runs start, which starts a process (os/exec forks on the calling thread), on a
// thread that has the caller's timer slack for the duration: the new process inherits the caller's
// slack, not husk's.
func WithCallerTimerSlack(start func() error) error {
	if callerSlack == 0 {
		return start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := RestoreTimerSlack(); err != nil {
		return err
	}
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(huskSlack), 0, 0, 0)
	return start()
}
