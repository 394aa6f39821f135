package rootfs

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOptions is the parsed form of an OCI mount's "options" list.
//
// Classic MS_* flags are folded left to right into msFlags (a later "rw"
// undoes an earlier "ro", as mount(8) does); mentioned records every flag
// that some option talked about, so that a bind mount changes only the
// attributes the spec asked for and keeps the rest from its source.
type mountOptions struct {
	bind      bool // "bind", "rbind" or type "bind"
	recursive bool // "rbind"
	remount   bool // "remount"

	msFlags   uintptr // folded MS_* flags
	mentioned uintptr // MS_* flags named by some option

	recFlags     uintptr // folded recursive attributes, as MS_* flags
	recMentioned uintptr // MS_* flags named by some recursive option

	propagation []uintptr // MS_SHARED/MS_PRIVATE/... possibly | MS_REC, in order

	tmpcopyup bool
	idmap     bool   // "idmap" or "ridmap": not supported
	label     string // linux.mountLabel, for the filesystems that take an SELinux context

	data []string // everything else, passed to the filesystem
}

type flagOpt struct {
	clear bool
	flag  uintptr
}

// flagOptions are the classic mount(8) flag words.
var flagOptions = map[string]flagOpt{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"relatime":      {false, unix.MS_RELATIME},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

// recursiveOptions are the mount_setattr(2) AT_RECURSIVE attribute words.
var recursiveOptions = map[string]flagOpt{
	"rro":            {false, unix.MS_RDONLY},
	"rrw":            {true, unix.MS_RDONLY},
	"rnosuid":        {false, unix.MS_NOSUID},
	"rsuid":          {true, unix.MS_NOSUID},
	"rnodev":         {false, unix.MS_NODEV},
	"rdev":           {true, unix.MS_NODEV},
	"rnoexec":        {false, unix.MS_NOEXEC},
	"rexec":          {true, unix.MS_NOEXEC},
	"rnodiratime":    {false, unix.MS_NODIRATIME},
	"rdiratime":      {true, unix.MS_NODIRATIME},
	"rrelatime":      {false, unix.MS_RELATIME},
	"rnorelatime":    {true, unix.MS_RELATIME},
	"rnoatime":       {false, unix.MS_NOATIME},
	"ratime":         {true, unix.MS_NOATIME},
	"rstrictatime":   {false, unix.MS_STRICTATIME},
	"rnostrictatime": {true, unix.MS_STRICTATIME},
	"rnosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"rsymfollow":     {true, unix.MS_NOSYMFOLLOW},
}

// propagationOptions are the mount propagation words.
var propagationOptions = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseOptions splits an OCI options list into flags, attributes,
// propagation, extensions and filesystem data.
func parseOptions(mountType string, options []string) *mountOptions {
	o := &mountOptions{bind: mountType == "bind"}
	for _, opt := range options {
		switch opt {
		case "bind":
			o.bind = true
			continue
		case "rbind":
			o.bind, o.recursive = true, true
			continue
		case "remount":
			o.remount = true
			continue
		case "tmpcopyup":
			o.tmpcopyup = true
			continue
		case "idmap", "ridmap":
			o.idmap = true
			continue
		}
		if f, ok := flagOptions[opt]; ok {
			o.mentioned |= f.flag
			if f.clear {
				o.msFlags &^= f.flag
			} else {
				o.msFlags |= f.flag
			}
			continue
		}
		if f, ok := recursiveOptions[opt]; ok {
			o.recMentioned |= f.flag
			if f.clear {
				o.recFlags &^= f.flag
			} else {
				o.recFlags |= f.flag
			}
			continue
		}
		if p, ok := propagationOptions[opt]; ok {
			o.propagation = append(o.propagation, p)
			continue
		}
		o.data = append(o.data, opt)
	}
	return o
}

const atimeFlags = unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME

// attrBits maps per-mount MS_* flags to MOUNT_ATTR_* bits (atime handled apart).
var attrBits = []struct {
	ms   uintptr
	attr uint64
}{
	{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
	{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
	{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
	{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	{unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// atimeAttr picks the atime mode the kernel would pick for these MS_* flags:
// strictatime beats noatime, and relatime is the default.
func atimeAttr(flags uintptr) uint64 {
	switch {
	case flags&unix.MS_STRICTATIME != 0:
		return unix.MOUNT_ATTR_STRICTATIME
	case flags&unix.MS_NOATIME != 0:
		return unix.MOUNT_ATTR_NOATIME
	default:
		return unix.MOUNT_ATTR_RELATIME
	}
}

// toMountAttr turns folded flags into a mount_setattr(2) change. With
// onlyMentioned, attributes nobody asked about are left alone (bind mounts
// keep their source's flags); otherwise every attribute is set or cleared.
func toMountAttr(flags, mentioned uintptr, onlyMentioned bool) *unix.MountAttr {
	attr := &unix.MountAttr{}
	for _, b := range attrBits {
		if onlyMentioned && mentioned&b.ms == 0 {
			continue
		}
		if flags&b.ms != 0 {
			attr.Attr_set |= b.attr
		} else {
			attr.Attr_clr |= b.attr
		}
	}
	if !onlyMentioned || mentioned&atimeFlags != 0 {
		attr.Attr_clr |= unix.MOUNT_ATTR__ATIME
		attr.Attr_set |= atimeAttr(flags)
	}
	return attr
}

// mountAttr is the non-recursive attribute change for the mount itself.
func (o *mountOptions) mountAttr() *unix.MountAttr {
	return toMountAttr(o.msFlags, o.mentioned, o.bind)
}

// recursiveAttr is the AT_RECURSIVE attribute change, or nil when no
// recursive option was given.
func (o *mountOptions) recursiveAttr() *unix.MountAttr {
	if o.recMentioned == 0 {
		return nil
	}
	return toMountAttr(o.recFlags, o.recMentioned, true)
}

// superblockFlags are the fsconfig(2) flag keys matching the superblock
// flags a classic mount(2) would have passed for a new filesystem.
func (o *mountOptions) superblockFlags() []string {
	var keys []string
	for _, f := range []struct {
		ms  uintptr
		key string
	}{
		{unix.MS_RDONLY, "ro"},
		{unix.MS_SYNCHRONOUS, "sync"},
		{unix.MS_DIRSYNC, "dirsync"},
		{unix.MS_LAZYTIME, "lazytime"},
	} {
		if o.msFlags&f.ms != 0 {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// propagationName renders a propagation flag for error messages.
func propagationName(p uintptr) string {
	for name, v := range propagationOptions {
		if v == p {
			return name
		}
	}
	return fmt.Sprintf("%#x", p)
}

// setPropagation applies MS_SHARED/MS_PRIVATE/... (optionally | MS_REC) to
// the mount fd refers to, which must be a mount root.
func setPropagation(fd int, p uintptr) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if p&unix.MS_REC != 0 {
		flags |= unix.AT_RECURSIVE
	}
	attr := &unix.MountAttr{Propagation: uint64(p &^ unix.MS_REC)}
	if err := unix.MountSetattr(fd, "", flags, attr); err != nil {
		return fmt.Errorf("set propagation %s: %w", propagationName(p), err)
	}
	return nil
}

// joinData renders filesystem data as mount(2) expects it.
func joinData(data []string) string { return strings.Join(data, ",") }
