package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

// exitInfo is what wait4 reported for one reaped process.
type exitInfo struct {
	Pid    int
	Status syscall.WaitStatus
	Rusage syscall.Rusage
	// At is when wait4 returned: the end of a timed command.
	At time.Time
}

// maxRSSKiB is the process's peak resident set size in KiB. For a process
// reaped by wait4 Linux reports the larger of its own peak and the peak of
// the descendants it reaped itself.
func (e exitInfo) maxRSSKiB() int64 { return e.Rusage.Maxrss }

// reaper makes the benchmark a child subreaper and reaps every process in
// its tree with one wait4(-1) loop. A container's init, orphaned when
// `create` exits, is reparented to us, so its exit (and rusage) arrives here
// too, as it does for containerd's shim or conmon.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan exitInfo
	exited  map[int]exitInfo // reaped, not claimed (yet)
	kick    chan struct{}
	devnull *os.File
	tmpDir  string
}

// newReaper sets PR_SET_CHILD_SUBREAPER on the process and starts the wait
// loop. tmpDir holds the short-lived files that capture each command's stderr.
func newReaper(tmpDir string) (*reaper, error) {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return nil, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", errno)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		devnull.Close()
		return nil, fmt.Errorf("create %s: %w", tmpDir, err)
	}
	r := &reaper{
		waiters: map[int]chan exitInfo{},
		exited:  map[int]exitInfo{},
		kick:    make(chan struct{}, 1),
		devnull: devnull,
		tmpDir:  tmpDir,
	}
	go r.loop()
	return r, nil
}

func (r *reaper) loop() {
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		pid, err := syscall.Wait4(-1, &ws, syscall.WALL, &ru)
		switch {
		case err == nil:
			r.deliver(exitInfo{Pid: pid, Status: ws, Rusage: ru, At: time.Now()})
		case errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.ECHILD):
			// No children at all: only start() can create one.
			<-r.kick
		default:
			fmt.Fprintf(os.Stderr, "huskbench: wait4: %v\n", err)
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (r *reaper) deliver(e exitInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.waiters[e.Pid]; ok {
		delete(r.waiters, e.Pid)
		ch <- e
		return
	}
	r.exited[e.Pid] = e
}

// claim returns a channel that receives pid's exit.
func (r *reaper) claim(pid int) chan exitInfo {
	ch := make(chan exitInfo, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.exited[pid]; ok {
		delete(r.exited, pid)
		ch <- e
		return ch
	}
	r.waiters[pid] = ch
	return ch
}

// unclaim forgets a waiter that gave up.
func (r *reaper) unclaim(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.waiters, pid)
}

// takeOrphans returns and forgets every reaped process nobody waited for:
// intermediate processes of a runtime, reparented to us when their parent
// exited. Only call it while no command is running concurrently.
func (r *reaper) takeOrphans() []exitInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]exitInfo, 0, len(r.exited))
	for pid, e := range r.exited {
		out = append(out, e)
		delete(r.exited, pid)
	}
	return out
}

// waitPid waits up to timeout for pid (our child or an orphan reparented to
// us) to be reaped. On timeout it SIGKILLs pid and still waits for it.
func (r *reaper) waitPid(pid int, timeout time.Duration) (exitInfo, error) {
	ch := r.claim(pid)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case e := <-ch:
		return e, nil
	case <-t.C:
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		r.unclaim(pid)
		return exitInfo{}, fmt.Errorf("pid %d not reaped after %v; kill: %w", pid, timeout, err)
	}
	select {
	case e := <-ch:
		return e, fmt.Errorf("pid %d killed after %v", pid, timeout)
	case <-time.After(5 * time.Second):
		r.unclaim(pid)
		return exitInfo{}, fmt.Errorf("pid %d not reaped after %v and SIGKILL", pid, timeout)
	}
}

// cmdResult is one finished command.
type cmdResult struct {
	Exit exitInfo
	// Dur runs from just before fork to the moment wait4 reaped the command.
	Dur    time.Duration
	Stderr string
}

// ok reports whether the command exited with status 0.
func (c cmdResult) ok() bool { return c.Exit.Status.Exited() && c.Exit.Status.ExitStatus() == 0 }

// err describes a failed command, or is nil.
func (c cmdResult) err(argv []string) error {
	if c.ok() {
		return nil
	}
	how := fmt.Sprintf("exit status %d", c.Exit.Status.ExitStatus())
	if c.Exit.Status.Signaled() {
		how = "killed by " + c.Exit.Status.Signal().String()
	}
	msg := logMessage(c.Stderr)
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return fmt.Errorf("%s: %s: %s", commandName(argv), how, msg)
}

// logrusMsg matches the msg field of a logrus text line (runc, husk).
var logrusMsg = regexp.MustCompile(`level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"`)

// logMessage reduces a runtime's stderr to its last error message: the msg
// of the last logrus error line when there is one (dropping the timestamps
// that would make equal errors look different), else the text itself.
func logMessage(stderr string) string {
	m := logrusMsg.FindAllStringSubmatch(stderr, -1)
	if len(m) == 0 {
		return strings.TrimSpace(stderr)
	}
	last := m[len(m)-1][1]
	if u, err := strconv.Unquote(`"` + last + `"`); err == nil {
		return u
	}
	return last
}

// commandName is the program's base name and, for a runtime, its
// subcommand: "runc delete".
func commandName(argv []string) string {
	name := filepath.Base(argv[0])
	if len(argv) > 3 && argv[1] == "--root" {
		name += " " + argv[3]
	}
	return name
}

// run forks argv with stdin and stdout on /dev/null and stderr captured, and
// waits up to timeout for it. Processes the command leaves behind (a
// container's init) inherit the same stdio.
func (r *reaper) run(argv []string, timeout time.Duration) (cmdResult, error) {
	errf, err := os.CreateTemp(r.tmpDir, "stderr-")
	if err != nil {
		return cmdResult{}, fmt.Errorf("stderr file: %w", err)
	}
	defer os.Remove(errf.Name())
	defer errf.Close()

	attr := &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{r.devnull.Fd(), r.devnull.Fd(), errf.Fd()},
		Sys:   &syscall.SysProcAttr{},
	}
	start := time.Now()
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	if err != nil {
		return cmdResult{}, fmt.Errorf("start %s: %w", argv[0], err)
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
	e, werr := r.waitPid(pid, timeout)
	res := cmdResult{Exit: e, Dur: e.At.Sub(start)}
	if data, rerr := os.ReadFile(errf.Name()); rerr == nil {
		res.Stderr = string(trimSpace(data))
	}
	if werr != nil {
		return res, fmt.Errorf("%s: %w", filepath.Base(argv[0]), werr)
	}
	return res, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
