// Command seccompagent is a minimal seccomp user-notification agent for husk's tests: it listens on a
// unix socket (a container's linux.seccomp.listenerPath), receives the notify fd and the container's
// state as husk sends them (runc's format), and answers every intercepted system call with success
// without performing it — so `mkdir` "works" but creates nothing. When the container is gone (the
// listener reports POLLHUP) it writes a JSON report and exits.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/seccomp"
)

// Report is what the agent saw, written to -report.
type Report struct {
	State    *specs.ContainerProcessState `json:"state"`
	Notified int                          `json:"notified"`
	Syscalls []int32                      `json:"syscalls"`
}

func main() {
	sock := flag.String("socket", "", "unix socket path to listen on")
	report := flag.String("report", "", "file to write the JSON report to")
	flag.Parse()
	if *sock == "" || *report == "" {
		fmt.Fprintln(os.Stderr, "usage: seccompagent -socket PATH -report FILE")
		os.Exit(2)
	}
	r, err := serve(*sock)
	b, _ := json.Marshal(r)
	if werr := os.WriteFile(*report, b, 0o644); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "seccompagent:", err)
		os.Exit(1)
	}
}

func serve(path string) (*Report, error) {
	// Bound under a temporary name and renamed: the path appears only once we listen.
	tmp := path + ".tmp"
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	conn, err := ln.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st, fd, err := seccomp.ReceiveListener(conn)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	r := &Report{State: st}
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return r, err
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			return r, nil // POLLHUP: no process uses the filter any more
		}
		req, err := seccomp.NotifReceive(fd)
		if err != nil {
			return r, err
		}
		r.Notified++
		r.Syscalls = append(r.Syscalls, req.Nr)
		// Success without doing it. ENOENT: the caller went away meanwhile.
		if err := seccomp.NotifRespond(fd, &seccomp.NotifResp{ID: req.ID}); err != nil && !errors.Is(err, unix.ENOENT) {
			return r, err
		}
	}
}
