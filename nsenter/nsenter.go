// Package nsenter is the C constructor that runs before the Go runtime starts in `husk init`.
//
// Go's runtime is multi-threaded before main runs, but setns(2) into a user or mount namespace needs a
// single-threaded process, and entering a new PID namespace needs a fork. So the part of container start-up
// that touches namespaces happens here, in C, when the environment carries _HUSK_INITPIPE. The protocol with
// the parent is documented in libcontainer/sync. Import this package for its side effect only, from package
// main of the husk binary.
package nsenter

/*
#cgo CFLAGS: -Wall -Wextra -O2
extern void husk_nsenter(void);
extern unsigned long husk_caller_slack;
extern unsigned long husk_timer_slack(void);
static void __attribute__((constructor)) husk_nsenter_ctor(void) { husk_nsenter(); }
*/
import "C"

// TimerSlack returns the caller's timer slack (ns) and the one the constructor gave this process
// instead, or zeros when it kept the caller's (see nsenter.c).
func TimerSlack() (caller, husk uint64) {
	if C.husk_caller_slack == 0 {
		return 0, 0
	}
	return uint64(C.husk_caller_slack), uint64(C.husk_timer_slack())
}
