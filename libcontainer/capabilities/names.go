// Package capabilities converts the OCI capability lists into kernel
// capability numbers and applies them to the calling thread.
//
// Capabilities are per-thread attributes in Linux. The container init holds
// runtime.LockOSThread and execve's from that same thread, so every change is
// made with a raw per-thread system call on the calling thread only.
package capabilities

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// names maps capability numbers to their names; the index is the number.
var names = [...]string{
	"CAP_CHOWN",              // 0
	"CAP_DAC_OVERRIDE",       // 1
	"CAP_DAC_READ_SEARCH",    // 2
	"CAP_FOWNER",             // 3
	"CAP_FSETID",             // 4
	"CAP_KILL",               // 5
	"CAP_SETGID",             // 6
	"CAP_SETUID",             // 7
	"CAP_SETPCAP",            // 8
	"CAP_LINUX_IMMUTABLE",    // 9
	"CAP_NET_BIND_SERVICE",   // 10
	"CAP_NET_BROADCAST",      // 11
	"CAP_NET_ADMIN",          // 12
	"CAP_NET_RAW",            // 13
	"CAP_IPC_LOCK",           // 14
	"CAP_IPC_OWNER",          // 15
	"CAP_SYS_MODULE",         // 16
	"CAP_SYS_RAWIO",          // 17
	"CAP_SYS_CHROOT",         // 18
	"CAP_SYS_PTRACE",         // 19
	"CAP_SYS_PACCT",          // 20
	"CAP_SYS_ADMIN",          // 21
	"CAP_SYS_BOOT",           // 22
	"CAP_SYS_NICE",           // 23
	"CAP_SYS_RESOURCE",       // 24
	"CAP_SYS_TIME",           // 25
	"CAP_SYS_TTY_CONFIG",     // 26
	"CAP_MKNOD",              // 27
	"CAP_LEASE",              // 28
	"CAP_AUDIT_WRITE",        // 29
	"CAP_AUDIT_CONTROL",      // 30
	"CAP_SETFCAP",            // 31
	"CAP_MAC_OVERRIDE",       // 32
	"CAP_MAC_ADMIN",          // 33
	"CAP_SYSLOG",             // 34
	"CAP_WAKE_ALARM",         // 35
	"CAP_BLOCK_SUSPEND",      // 36
	"CAP_AUDIT_READ",         // 37
	"CAP_PERFMON",            // 38
	"CAP_BPF",                // 39
	"CAP_CHECKPOINT_RESTORE", // 40
}

var byName = func() map[string]int {
	m := make(map[string]int, len(names))
	for i, n := range names {
		m[n] = i
	}
	return m
}()

// Names returns every capability name this build knows, ordered by number
// ("CAP_CHOWN" is 0, "CAP_CHECKPOINT_RESTORE" is 40).
func Names() []string {
	out := make([]string, len(names))
	copy(out, names[:])
	return out
}

// Name returns the name of capability number c, or "CAP_<c>" for a number this
// build does not know.
func Name(c int) string {
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return "CAP_" + strconv.Itoa(c)
}

// Parse returns the number of the capability called name. Names are matched
// exactly, upper case with the "CAP_" prefix, as in the OCI spec.
func Parse(name string) (int, error) {
	if c, ok := byName[name]; ok {
		return c, nil
	}
	return -1, fmt.Errorf("unknown capability %q", name)
}

// LastCap returns the highest capability number the running kernel knows,
// from /proc/sys/kernel/cap_last_cap, read once per process (FromSpec and
// ApplyBounding both need it).
func LastCap() (int, error) { return lastCap() }

var lastCap = sync.OnceValues(func() (int, error) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return -1, fmt.Errorf("read cap_last_cap: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return -1, fmt.Errorf("parse cap_last_cap: %w", err)
	}
	return n, nil
})
