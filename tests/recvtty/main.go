// Command recvtty is the receiving end of the --console-socket protocol, for
// tests. It listens on a unix socket, accepts one connection, receives the
// pseudo-terminal master that the runtime sends with SCM_RIGHTS, optionally
// writes some input into it, and copies everything the container writes to
// the terminal into a file (or stdout) until the master reports EOF or EIO,
// which happens once every copy of the terminal's peer is closed.
//
// The socket appears at its path only once it is listening (it is bound under
// a temporary name and renamed), so a caller may wait for the path to exist
// and then start the runtime.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "recvtty: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	sockPath := flag.String("socket", "", "unix socket path to listen on (required)")
	outPath := flag.String("out", "", "file that receives the terminal's output (default: stdout)")
	infoPath := flag.String("info", "", "file that receives \"name=<message> ptn=<pty number>\" once the master arrives")
	input := flag.String("input", "", "text written into the terminal once the master arrives")
	flag.Parse()
	if *sockPath == "" || flag.NArg() != 0 {
		flag.Usage()
		return errors.New("usage: recvtty -socket PATH [-out FILE] [-info FILE] [-input TEXT]")
	}
	out := os.Stdout
	if *outPath != "" {
		f, err := os.OpenFile(*outPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	lfd, err := listen(*sockPath)
	if err != nil {
		return err
	}
	cfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	unix.Close(lfd)
	os.Remove(*sockPath)
	if err != nil {
		return fmt.Errorf("accept on %s: %w", *sockPath, err)
	}
	name, mfd, err := receive(cfd)
	unix.Close(cfd)
	if err != nil {
		return err
	}
	master := os.NewFile(uintptr(mfd), name)
	defer master.Close()
	// Only a pty master answers TIOCGPTN.
	ptn, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("received descriptor %q is not a pty master: %w", name, err)
	}
	if *infoPath != "" {
		info := "name=" + name + " ptn=" + strconv.FormatUint(uint64(ptn), 10) + "\n"
		if err := os.WriteFile(*infoPath, []byte(info), 0o600); err != nil {
			return err
		}
	}
	if *input != "" {
		if _, err := master.Write([]byte(*input)); err != nil {
			return fmt.Errorf("write input: %w", err)
		}
	}
	return copyOut(out, master)
}

// listen creates a listening unix socket at path. It binds a temporary name
// next to path and renames it, so path exists only once connect can succeed.
func listen(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	os.Remove(tmp)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: tmp}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %s: %w", tmp, err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		unix.Close(fd)
		os.Remove(tmp)
		return -1, fmt.Errorf("listen %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		unix.Close(fd)
		os.Remove(tmp)
		return -1, err
	}
	return fd, nil
}

// receive reads one message carrying exactly one descriptor: its payload is
// the terminal's name.
func receive(fd int) (string, int, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*8))
	n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return "", -1, fmt.Errorf("recvmsg: %w", err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return "", -1, fmt.Errorf("parse control message: %w", err)
		}
		for i := range msgs {
			got, err := unix.ParseUnixRights(&msgs[i])
			if err != nil {
				return "", -1, fmt.Errorf("parse SCM_RIGHTS: %w", err)
			}
			fds = append(fds, got...)
		}
	}
	if len(fds) != 1 || flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || n == 0 {
		for _, f := range fds {
			unix.Close(f)
		}
		return "", -1, fmt.Errorf("want one named descriptor in one message, got %d descriptors, %d bytes, flags %#x", len(fds), n, flags)
	}
	return string(buf[:n]), fds[0], nil
}

// copyOut copies the terminal's output to out until the master hits EOF or
// EIO (the peer was closed by everyone).
func copyOut(out io.Writer, master *os.File) error {
	buf := make([]byte, 32*1024)
	for {
		n, err := master.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return fmt.Errorf("write output: %w", werr)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, unix.EIO) {
				return nil
			}
			return fmt.Errorf("read terminal: %w", err)
		}
	}
}
