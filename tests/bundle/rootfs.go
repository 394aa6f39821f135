package bundle

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Busybox is the static busybox binary copied into every rootfs (Debian's
// busybox-static package installs it here).
var Busybox = "/bin/busybox"

// containerBusybox is where busybox lives inside the rootfs; every applet is a
// symlink to it.
const containerBusybox = "/bin/busybox"

const passwd = `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
`

const group = `root:x:0:
tty:x:5:
nogroup:x:65534:
nobody:x:65534:
user:x:1000:
`

var (
	appletsOnce sync.Once
	applets     []string
	appletsErr  error
)

// Applets returns the applet paths (relative, like "usr/bin/env") that
// `busybox --list-full` prints. The list is computed once per process.
func Applets() ([]string, error) {
	appletsOnce.Do(func() {
		out, err := exec.Command(Busybox, "--list-full").Output()
		if err != nil {
			appletsErr = fmt.Errorf("list busybox applets (%s --list-full): %w", Busybox, err)
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			p := strings.TrimSpace(sc.Text())
			if p == "" {
				continue
			}
			clean := filepath.Clean(p)
			if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
				appletsErr = fmt.Errorf("list busybox applets: unexpected path %q", p)
				return
			}
			applets = append(applets, clean)
		}
		if len(applets) == 0 {
			appletsErr = fmt.Errorf("list busybox applets: %s printed no applets", Busybox)
		}
	})
	return applets, appletsErr
}

// BuildRootfs creates a minimal busybox root filesystem at dst, which must
// not exist yet: a private copy of the busybox binary at /bin/busybox with a
// symlink for each applet, /etc/passwd and /etc/group (root, nobody and a
// uid 1000 "user"), and empty /proc, /sys, /dev, /tmp, /root and /home/user.
func BuildRootfs(dst string) error {
	list, err := Applets()
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("create rootfs: %w", err)
	}
	dirs := []struct {
		path string
		mode os.FileMode
	}{
		{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755},
		{"etc", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755},
		{"tmp", os.ModeSticky | 0o777}, {"root", 0o700}, {"home/user", 0o755},
	}
	for _, d := range dirs {
		p := filepath.Join(dst, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("create rootfs dir %s: %w", p, err)
		}
		// Chmod, not the MkdirAll mode: the umask must not apply, and the
		// sticky bit is only honoured by chmod.
		if err := os.Chmod(p, d.mode); err != nil {
			return fmt.Errorf("chmod rootfs dir %s: %w", p, err)
		}
	}
	if err := os.Chown(filepath.Join(dst, "home/user"), 1000, 1000); err != nil {
		return fmt.Errorf("chown rootfs home: %w", err)
	}
	if err := copyFile(Busybox, filepath.Join(dst, containerBusybox), 0o755); err != nil {
		return err
	}
	for _, a := range list {
		if "/"+a == containerBusybox {
			continue
		}
		p := filepath.Join(dst, a)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create applet dir for %s: %w", a, err)
		}
		if err := os.Symlink(containerBusybox, p); err != nil {
			return fmt.Errorf("link applet %s: %w", a, err)
		}
	}
	files := map[string]string{"etc/passwd": passwd, "etc/group": group}
	for name, content := range files {
		p := filepath.Join(dst, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Chmod(mode); err != nil {
		out.Close()
		return fmt.Errorf("chmod %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dst, err)
	}
	return nil
}
