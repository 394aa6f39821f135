package rootfs

// Thin wrappers around the file-descriptor based mount API (open_tree(2),
// fsopen(2), fsconfig(2), fsmount(2), move_mount(2), mount_setattr(2)).
//
// Security rationale: every mount this package makes is first built as a
// detached mount object, configured (attributes, contents) while nobody else
// can see it, and only then attached to a destination that is an O_PATH file
// descriptor already resolved and checked inside the rootfs. No destination
// path string is ever handed to the kernel, so a symlink swapped in after the
// check cannot redirect the mount.

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// cloneTree returns a detached copy of the mount at path (relative to dirfd,
// or dirfd itself when path is empty), with its submounts when recursive.
func cloneTree(dirfd int, path string, recursive bool) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if path == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(dirfd, path, flags)
	if err != nil {
		return nil, fmt.Errorf("open_tree: %w", err)
	}
	return os.NewFile(uintptr(fd), "mount:"+path), nil
}

// attach moves the detached (or attached) mount mnt on top of target.
func attach(mnt, target *os.File) error {
	err := unix.MoveMount(int(mnt.Fd()), "", int(target.Fd()), "",
		unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// setAttr applies a mount_setattr(2) change to the mount fd refers to.
func setAttr(fd int, attr *unix.MountAttr, recursive bool) error {
	if attr == nil || (attr.Attr_set == 0 && attr.Attr_clr == 0) {
		return nil
	}
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(fd, "", flags, attr); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	return nil
}

// fsParams is how a new filesystem is configured before fsmount(2).
type fsParams struct {
	fstype  string
	source  string
	sbFlags []string // "ro", "sync", ...
	data    []string // "key" or "key=value"
	attrs   uint64   // MOUNT_ATTR_* for the new mount
}

// fsconfig(2) refuses string values longer than this.
const maxFsconfigString = 255

// newFilesystem creates a filesystem instance and returns it as a detached
// mount.
func newFilesystem(p *fsParams) (*os.File, error) {
	fsfd, err := unix.Fsopen(p.fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen %s: %w", p.fstype, err)
	}
	defer unix.Close(fsfd)

	if p.source != "" {
		if err := unix.FsconfigSetString(fsfd, "source", p.source); err != nil {
			return nil, fsError(fsfd, "source="+p.source, err)
		}
	}
	for _, key := range p.sbFlags {
		if err := unix.FsconfigSetFlag(fsfd, key); err != nil {
			return nil, fsError(fsfd, key, err)
		}
	}
	params, err := expandParams(p.fstype, p.data)
	if err != nil {
		return nil, err
	}
	for _, kv := range params {
		if err := setParam(fsfd, kv); err != nil {
			return nil, fsError(fsfd, kv, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fsError(fsfd, "create", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(p.attrs))
	if err != nil {
		return nil, fsError(fsfd, "fsmount", err)
	}
	return os.NewFile(uintptr(mfd), "mount:"+p.fstype), nil
}

// setParam passes one "key" or "key=value" item to fsconfig(2).
func setParam(fsfd int, kv string) error {
	key, value, hasValue := strings.Cut(kv, "=")
	if !hasValue {
		return unix.FsconfigSetFlag(fsfd, key)
	}
	return unix.FsconfigSetString(fsfd, key, value)
}

// expandParams checks value lengths and, for overlay, turns a lowerdir list
// too long for one fsconfig(2) string into one "lowerdir+" item per layer.
func expandParams(fstype string, data []string) ([]string, error) {
	var out []string
	for _, kv := range data {
		key, value, _ := strings.Cut(kv, "=")
		if len(value) <= maxFsconfigString {
			out = append(out, kv)
			continue
		}
		if fstype != "overlay" || key != "lowerdir" || strings.Contains(value, "::") {
			return nil, fmt.Errorf("option %q: value longer than %d bytes", key, maxFsconfigString)
		}
		for _, layer := range splitLayers(value) {
			if len(layer) > maxFsconfigString {
				return nil, fmt.Errorf("option lowerdir: layer %q longer than %d bytes", layer, maxFsconfigString)
			}
			out = append(out, "lowerdir+="+layer)
		}
	}
	return out, nil
}

// splitLayers splits an overlay lowerdir list on unescaped colons and
// removes the backslash escapes.
func splitLayers(s string) []string {
	var layers []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == ':':
			layers = append(layers, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(layers, cur.String())
}

// fsError wraps an fsconfig/fsmount failure with the kernel's own messages
// from the filesystem context, when it left any.
func fsError(fsfd int, what string, err error) error {
	var msgs []string
	buf := make([]byte, 1024)
	for range 8 {
		n, rerr := unix.Read(fsfd, buf)
		if rerr != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s: %w (%s)", what, err, strings.Join(msgs, "; "))
	}
	return fmt.Errorf("%s: %w", what, err)
}
