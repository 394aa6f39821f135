package procattr

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LookPath resolves file (the process's args[0]) the way exec.LookPath does,
// but with PATH taken from env (the container process's environment, last
// PATH= entry wins) instead of the runtime's own environment. Errors are
// *exec.Error values, so their text is Go's own, which clients match on:
//
//	exec: "/x": stat /x: no such file or directory
//	exec: "foo": executable file not found in $PATH
//	exec: "/etc/passwd": permission denied
//
// Unlike exec.LookPath, a match in a relative PATH entry (such as "." or an
// empty entry) is returned without exec.ErrDot, as a shell would run it;
// such a result always contains a "/" so that execve does not search again.
// Executability is checked with the caller's effective ids (faccessat
// AT_EACCESS), so call it after SetupUser.
func LookPath(file string, env []string) (string, error) {
	switch file {
	case "", ".", "..":
		return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
	}
	if strings.Contains(file, "/") {
		if err := findExecutable(file); err != nil {
			return "", &exec.Error{Name: file, Err: err}
		}
		return file, nil
	}
	for _, dir := range filepath.SplitList(getenv(env, "PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if err := findExecutable(p); err == nil {
			if !strings.Contains(p, "/") {
				p = "./" + p
			}
			return p, nil
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

func getenv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// findExecutable follows the checks of os/exec on Unix, so that the errors
// are the same: stat errors as they are, EISDIR for directories, and the
// access(2) error (EACCES reads "permission denied") otherwise.
func findExecutable(file string) error {
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	m := st.Mode()
	if m.IsDir() {
		return syscall.EISDIR
	}
	err = unix.Faccessat(unix.AT_FDCWD, file, unix.X_OK, unix.AT_EACCESS)
	if err == nil || (!errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM)) {
		if err != nil {
			// Return the bare errno, as os/exec does, so the message is
			// "permission denied" and errors.Is(err, fs.ErrPermission) holds.
			var errno syscall.Errno
			if errors.As(err, &errno) {
				return errno
			}
		}
		return err
	}
	if m&0o111 != 0 {
		return nil
	}
	return fs.ErrPermission
}
