// Package sync is the protocol between the husk process that creates a container (the parent) and the
// container's init, over one SOCK_SEQPACKET socketpair whose child end is passed to `husk init` as the fd
// named by _HUSK_INITPIPE. Every message is one packet; after the bootstrap, every packet is a JSON Msg.
//
//	step  from          to            message              meaning
//	 1    parent        nsenter (C)   bootstrap (binary)   cgroup v1 directories to join, namespaces to
//	                                                       create/join, oom_score_adj, time offsets
//	 2    nsenter       parent        usermap {pid}        a user namespace was created: write pid's uid/gid maps
//	 3    parent        nsenter       usermap-done         maps written
//	 4    nsenter       parent        pid {pid}            the container init's host pid; stage 0 exits
//	 5    parent        init (Go)     config {Config}      everything init needs (the parent has saved state.json)
//	 c    init          parent        cgroup               (before a cgroup mount) am I in the container's cgroup?
//	 c'   parent        init          cgroup-done          yes: the parent's attach, overlapping init's work so
//	                                                       far, is complete. Only where the parent moves the
//	                                                       process (Config.LateCgroup: the systemd driver,
//	                                                       rootless husk); otherwise stage 0 joined its cgroup
//	                                                       v1 directories itself (BootCgroup) or was cloned
//	                                                       into its v2 cgroup.
//	 6    init          parent        hooks                rootfs mounted: run prestart + createRuntime hooks now
//	 7    parent        init          hooks-done           hooks ran (an error ends the create instead)
//	 8    init          parent        ready                set up, about to wait on the exec FIFO (exec: about
//	                                                       to execve; the socket is close-on-exec, so EOF
//	                                                       after ready means the execve succeeded)
//	 s    init          parent        seccomp + fd packet  a notify filter was loaded: the next packet carries
//	                                                       its listener fd (SCM_RIGHTS); the parent hands it to
//	                                                       linux.seccomp.listenerPath
//	 s'   parent        init          seccomp-done         listener delivered
//	 *    init/nsenter  parent        error {msg}          setup failed; the sender exits
//
// exec through the C init (nsenter/execinit.c): the bootstrap also carries a BootExec record with the
// whole process (ExecBoot); there is no config message. After step 4 the parent sends cgroup-done once
// it has the process's pid and the process is in the container's cgroup (the C init waits for it
// before anything else, so that its messages follow nsenter's pid), then reads ready, and EOF or error
// as above.
//
// `husk start` releases init through the exec FIFO: init writes one byte and then execs the user process;
// the FIFO's write end is close-on-exec, so `start` reads EOF when execve succeeded, or an error text
// that init writes before exiting when a startContainer hook or the execve failed.
package sync

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Message types.
const (
	TypeUsermap     = "usermap"
	TypeUsermapDone = "usermap-done"
	TypePid         = "pid"
	TypeConfig      = "config"
	TypeHooks       = "hooks"
	TypeHooksDone   = "hooks-done"
	TypeReady       = "ready"
	TypeSeccomp     = "seccomp"
	TypeCgroup      = "cgroup"
	TypeCgroupDone  = "cgroup-done"
	TypeSeccompDone = "seccomp-done"
	TypeError       = "error"
)

// Bootstrap record types understood by nsenter/nsenter.c.
const (
	BootCloneFlags = 1
	BootNsPath     = 2
	BootOOMScore   = 3
	BootTimeNS     = 4
	BootPidfd      = 5
	BootExec       = 6
	BootCgroup     = 7
)

// Records inside a BootExec record; nsenter/execinit.c reads them.
const (
	exArg        = 1
	exEnv        = 2
	exCwd        = 3
	exUser       = 4
	exRlimit     = 5
	exCaps       = 6
	exNNP        = 7
	exSeccomp    = 8
	exPreserve   = 9
	exArg0Quoted = 11
	exCwdQuoted  = 12
	exLastCap    = 13
)

// ExecRlimit is one rlimit of an ExecBoot.
type ExecRlimit struct {
	Name       string // "RLIMIT_NOFILE", for messages
	Resource   uint32
	Soft, Hard uint64
}

// ExecBoot describes a process started by `husk exec` that nsenter sets up and execs in C, without
// the Go half of init: every value is final (capability masks filtered, rlimits resolved).
type ExecBoot struct {
	Args, Env   []string
	Cwd         string
	UID, GID    uint32
	Umask       uint32
	Groups      []uint32
	Rlimits     []ExecRlimit
	Caps        [5]uint64 // bounding, effective, permitted, inheritable, ambient
	LastCap     uint32
	NoNewPrivs  bool
	SeccompFlag uint32
	Seccomp     []byte // struct sock_filter array; empty: no filter
	PreserveFDs uint32
}

// Exec adds the BootExec record for e.
func (b *Bootstrap) Exec(e *ExecBoot) {
	var in Bootstrap
	str := func(typ uint32, s string) { in.record(typ, append([]byte(s), 0)) }
	u32 := func(v ...uint32) []byte {
		out := make([]byte, 0, 4*len(v))
		for _, x := range v {
			out = binary.NativeEndian.AppendUint32(out, x)
		}
		return out
	}
	for _, a := range e.Args {
		str(exArg, a)
	}
	for _, kv := range e.Env {
		str(exEnv, kv)
	}
	str(exCwd, e.Cwd)
	if len(e.Args) > 0 {
		str(exArg0Quoted, strconv.Quote(e.Args[0]))
	}
	str(exCwdQuoted, strconv.Quote(e.Cwd))
	in.record(exUser, append(u32(e.UID, e.GID, e.Umask), u32(e.Groups...)...))
	for _, r := range e.Rlimits {
		v := binary.NativeEndian.AppendUint32(nil, r.Resource)
		v = binary.NativeEndian.AppendUint64(v, r.Soft)
		v = binary.NativeEndian.AppendUint64(v, r.Hard)
		v = append(append(v, r.Name...), 0)
		in.record(exRlimit, v)
	}
	var caps []byte
	for _, c := range e.Caps {
		caps = binary.NativeEndian.AppendUint64(caps, c)
	}
	in.record(exCaps, caps)
	in.record(exLastCap, u32(e.LastCap))
	if e.NoNewPrivs {
		in.record(exNNP, nil)
	}
	if len(e.Seccomp) > 0 {
		in.record(exSeccomp, append(u32(e.SeccompFlag), e.Seccomp...))
	}
	in.record(exPreserve, u32(e.PreserveFDs))
	b.record(BootExec, in.buf)
}

// maxMsg bounds one packet; a config with a large seccomp profile fits comfortably.
const maxMsg = 4 << 20

// Msg is one JSON packet.
type Msg struct {
	Type   string          `json:"type"`
	Pid    int             `json:"pid,omitempty"`
	Msg    string          `json:"msg,omitempty"`
	Config json.RawMessage `json:"config,omitempty"`
}

// Bootstrap builds the binary bootstrap message for nsenter.
type Bootstrap struct {
	buf []byte
}

func (b *Bootstrap) record(typ uint32, val []byte) {
	var hdr [8]byte
	binary.NativeEndian.PutUint32(hdr[0:], typ)
	binary.NativeEndian.PutUint32(hdr[4:], uint32(len(val)))
	b.buf = append(b.buf, hdr[:]...)
	b.buf = append(b.buf, val...)
}

// CloneFlags sets the namespaces to create.
func (b *Bootstrap) CloneFlags(flags uint32) {
	var v [4]byte
	binary.NativeEndian.PutUint32(v[:], flags)
	b.record(BootCloneFlags, v[:])
}

// JoinNamespace adds a namespace to join by path.
func (b *Bootstrap) JoinNamespace(flag uint32, path string) {
	v := make([]byte, 4, 4+len(path)+1)
	binary.NativeEndian.PutUint32(v, flag)
	v = append(v, path...)
	v = append(v, 0)
	b.record(BootNsPath, v)
}

// JoinPidfd joins the namespaces in flags of the process behind the pidfd numbered fd in the child.
func (b *Bootstrap) JoinPidfd(fd int, flags uint32) {
	var v [8]byte
	binary.NativeEndian.PutUint32(v[0:], uint32(fd))
	binary.NativeEndian.PutUint32(v[4:], flags)
	b.record(BootPidfd, v[:])
}

// OOMScoreAdj sets the value written to /proc/self/oom_score_adj before any namespace is entered.
func (b *Bootstrap) OOMScoreAdj(v int) { b.record(BootOOMScore, []byte(fmt.Sprint(v))) }

// TimeOffsets sets the text written to /proc/self/timens_offsets.
func (b *Bootstrap) TimeOffsets(s string) { b.record(BootTimeNS, []byte(s)) }

// JoinCgroup makes nsenter's stage 0 move itself into the cgroup v1 directory dir, by writing "0" to its
// tasks file, before it creates or joins any namespace. A single-threaded process moving itself skips
// the kernel's global threadgroup lock, whose first writer waits for an RCU grace period (5-15 ms);
// the parent's write of a pid to cgroup.procs always takes it. What stage 0 forks inherits the cgroup.
func (b *Bootstrap) JoinCgroup(dir string) { b.record(BootCgroup, append([]byte(dir), 0)) }

// Append adds o's records.
func (b *Bootstrap) Append(o *Bootstrap) { b.buf = append(b.buf, o.buf...) }

// Bytes returns the encoded message.
func (b *Bootstrap) Bytes() []byte { return b.buf }

// Conn is one end of the sync socketpair.
type Conn struct {
	f *os.File
}

// NewPair returns the parent's end and the child's end (the latter blocking and close-on-exec: the
// caller installs it in the child's fd table when it starts the child, as syscall.ForkExec does). The parent's end is non-blocking, so that a Recv waiting for the
// child parks in the Go runtime's poller: a goroutine blocked in a system call instead keeps the
// runtime's sysmon thread polling every 20 µs or so.
func NewPair() (parent *Conn, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sync socketpair: %w", err)
	}
	if err := unix.SetNonblock(fds[1], false); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("sync socketpair: %w", err)
	}
	return &Conn{os.NewFile(uintptr(fds[0]), "sync-parent")}, os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

// NewConn wraps an inherited fd.
func NewConn(f *os.File) *Conn { return &Conn{f} }

// File returns the underlying file.
func (c *Conn) File() *os.File { return c.f }

// Close closes the socket.
func (c *Conn) Close() error { return c.f.Close() }

// SendRaw sends one packet as is.
func (c *Conn) SendRaw(b []byte) error {
	if _, err := c.f.Write(b); err != nil {
		if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
			return ErrClosed
		}
		return fmt.Errorf("sync: send: %w", err)
	}
	return nil
}

// Send sends one JSON message.
func (c *Conn) Send(m *Msg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.SendRaw(b)
}

// ErrClosed means the peer closed the socket (usually: it died).
var ErrClosed = errors.New("sync: peer closed the connection")

// Recv reads one JSON message.
func (c *Conn) Recv() (*Msg, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("sync: receive: %w", err)
	}
	// recv calls recvfrom until it neither is interrupted nor would block (on a non-blocking socket the
	// poller waits for the packet).
	recv := func(buf []byte, flags int) (n int, err error) {
		cerr := rc.Read(func(fd uintptr) bool {
			for {
				n, _, err = unix.Recvfrom(int(fd), buf, flags)
				if err != unix.EINTR {
					return err != unix.EAGAIN
				}
			}
		})
		if cerr != nil {
			return 0, cerr
		}
		return n, err
	}
	// Peek with MSG_TRUNC for the packet's size, so that no packet is ever truncated.
	n, err := recv(nil, unix.MSG_PEEK|unix.MSG_TRUNC)
	if err == unix.ECONNRESET {
		return nil, ErrClosed // the peer died with data unread: as good as closed
	}
	if err != nil {
		return nil, fmt.Errorf("sync: receive: %w", err)
	}
	if n == 0 {
		return nil, ErrClosed
	}
	if n > maxMsg {
		return nil, fmt.Errorf("sync: message of %d bytes is too large", n)
	}
	buf := make([]byte, n)
	if n, err = recv(buf, 0); err != nil {
		return nil, fmt.Errorf("sync: receive: %w", err)
	}
	var m Msg
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return nil, fmt.Errorf("sync: bad message %q: %w", buf[:min(n, 80)], err)
	}
	return &m, nil
}

// Expect reads one message and checks its type; an error message becomes an error.
func (c *Conn) Expect(typ string) (*Msg, error) {
	m, err := c.Recv()
	if err != nil {
		return nil, err
	}
	if m.Type == TypeError {
		return nil, errors.New(m.Msg)
	}
	if m.Type != typ {
		return nil, fmt.Errorf("sync: expected %q, got %q", typ, m.Type)
	}
	return m, nil
}
