package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Load installs prog on the calling thread with seccomp(2). The caller must
// have set no_new_privs or hold CAP_SYS_ADMIN, and should have locked its
// goroutine to the thread and call execve right after: the filter applies to
// this thread and whatever it executes. With prog.Notify the filter is loaded
// with SECCOMP_FILTER_FLAG_NEW_LISTENER and the listener fd (close-on-exec)
// is returned; otherwise listenerFd is -1.
//
// Load makes no libseccomp call, so init needs no libseccomp.
func Load(prog *Program) (listenerFd int, err error) {
	if prog == nil || len(prog.Filter) == 0 {
		return -1, errors.New("seccomp: load: empty program")
	}
	if len(prog.Filter) > maxFilterLen {
		return -1, fmt.Errorf("seccomp: load: program has %d instructions, limit is %d", len(prog.Filter), maxFilterLen)
	}
	flags := prog.Flags
	if prog.Notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	fprog := unix.SockFprog{Len: uint16(len(prog.Filter)), Filter: &prog.Filter[0]}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return -1, fmt.Errorf("seccomp: load filter (flags %#x): %w", flags, errno)
	}
	if !prog.Notify {
		return -1, nil
	}
	// The kernel creates the listener close-on-exec.
	return int(r), nil
}

// flagSupported asks the kernel whether it knows a SECCOMP_FILTER_FLAG_*
// bit: with a NULL program it fails with EFAULT when the flag is known and
// EINVAL when it is not, and installs nothing either way.
func flagSupported(flag uint) bool {
	// WAIT_KILLABLE_RECV is only valid together with NEW_LISTENER.
	if flag == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
		flag |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flag), 0)
	return errno == unix.EFAULT
}

// SendListener hands a notify listener to the agent listening on the unix
// socket at path, the way runc does: one message whose data is the JSON of
// st and which carries fd with SCM_RIGHTS. st.Fds is set to ["seccompFd"]
// and st.Version defaults to the runtime-spec version; the caller fills in
// Pid, State and Metadata (the profile's listenerMetadata).
func SendListener(path string, fd int, st *specs.ContainerProcessState) error {
	if st == nil {
		return errors.New("seccomp: send listener: no process state")
	}
	msg := *st
	msg.Fds = []string{specs.SeccompFdName}
	if msg.Version == "" {
		msg.Version = specs.Version
	}
	data, err := json.Marshal(&msg)
	if err != nil {
		return fmt.Errorf("seccomp: encode process state: %w", err)
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("seccomp: connect to listener socket %s: %w", path, err)
	}
	defer conn.Close()
	n, oobn, err := conn.WriteMsgUnix(data, unix.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("seccomp: send listener to %s: %w", path, err)
	}
	if n != len(data) || oobn == 0 {
		return fmt.Errorf("seccomp: send listener to %s: short write (%d of %d bytes)", path, n, len(data))
	}
	return nil
}

// NotifReq is struct seccomp_notif: one intercepted system call.
type NotifReq struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// NotifResp is struct seccomp_notif_resp: the answer to a NotifReq.
type NotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// NotifReceive waits for the next notification on a listener fd
// (SECCOMP_IOCTL_NOTIF_RECV). Agents, including husk's test agent, use it.
func NotifReceive(listener int) (*NotifReq, error) {
	var req NotifReq
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), uintptr(unix.SECCOMP_IOCTL_NOTIF_RECV), uintptr(unsafe.Pointer(&req)))
		if errno == unix.EINTR {
			req = NotifReq{}
			continue
		}
		if errno != 0 {
			return nil, fmt.Errorf("seccomp: receive notification: %w", errno)
		}
		return &req, nil
	}
}

// NotifRespond answers a notification (SECCOMP_IOCTL_NOTIF_SEND). An ENOENT
// error means the calling thread is gone (killed, or its call interrupted).
func NotifRespond(listener int, resp *NotifResp) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), uintptr(unix.SECCOMP_IOCTL_NOTIF_SEND), uintptr(unsafe.Pointer(resp)))
	if errno != 0 {
		return fmt.Errorf("seccomp: answer notification %d: %w", resp.ID, errno)
	}
	return nil
}

// ReceiveListener is the agent side of SendListener: it reads one message
// from conn and returns the process state and the listener fd it carried
// (close-on-exec). The caller owns the fd.
func ReceiveListener(conn *net.UnixConn) (*specs.ContainerProcessState, int, error) {
	buf := make([]byte, 64*1024)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, -1, fmt.Errorf("seccomp: receive listener: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, -1, fmt.Errorf("seccomp: receive listener: parse control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err == nil {
			fds = append(fds, got...)
		}
	}
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if len(fds) != 1 {
		closeAll()
		return nil, -1, fmt.Errorf("seccomp: receive listener: got %d fds, want 1", len(fds))
	}
	unix.CloseOnExec(fds[0])
	var st specs.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		closeAll()
		return nil, -1, fmt.Errorf("seccomp: receive listener: decode state: %w", err)
	}
	return &st, fds[0], nil
}
