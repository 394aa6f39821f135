// husk nsenter: the pre-Go half of `husk init`. See libcontainer/sync/sync.go for the protocol.
//
// Stage 0 (this process, started by the parent as `husk init`):
//   1. read one bootstrap message from the sync socket (fd in _HUSK_INITPIPE);
//   2. join the cgroup v1 directories listed, by writing "0" to their tasks files (a single-threaded
//      process moving itself: no RCU grace period, unlike the parent's write of a pid to cgroup.procs);
//      write oom_score_adj (before any user namespace, while we still hold host privileges);
//   3. open every namespace path to join, then join the user namespace first and the rest after;
//   4. unshare(CLONE_NEWUSER) if asked, and ask the parent to write uid_map/gid_map ({"type":"usermap"});
//   5. unshare every other new namespace, write the time namespace offsets;
//   6. clone(CLONE_PARENT) the container init (PID 1 of a new PID namespace), report its pid
//      ({"type":"pid"}) and _exit. The child returns to the Go runtime, or, for an exec whose bootstrap
//      carries a BOOT_EXEC record, sets the process up and execs it in C (execinit.c).
// Any failure is reported as {"type":"error","msg":"..."} and stage 0 exits 1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "execinit.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

// Bootstrap record types; keep in sync with libcontainer/sync.
enum {
	BOOT_CLONE_FLAGS = 1, // uint32: namespaces to create
	BOOT_NS_PATH = 2,     // uint32 clone flag + NUL-terminated path: a namespace to join
	BOOT_OOM_SCORE = 3,   // text written to /proc/self/oom_score_adj
	BOOT_TIMENS = 4,      // text written to /proc/self/timens_offsets
	BOOT_PIDFD = 5,       // uint32 fd + uint32 clone flags: join these namespaces of a pidfd (exec)
	BOOT_EXEC = 6,        // records of the exec'd process: set it up and exec it in C (execinit.c)
	BOOT_CGROUP = 7,      // NUL-terminated path: a cgroup v1 directory to join (its tasks file gets "0")
};

#define MAX_NS 16
#define MAX_CGROUPS 32
#define MAX_BOOT (64 * 1024)

static int syncfd = -1;

// Timer slack. The Go runtime's sysmon thread sleeps 20 µs at a time while a process is young, and a
// husk command lives a few milliseconds: with the usual 50 µs slack that is ~50 wake-ups (context
// switches) per Go process. Every husk process therefore runs with HUSK_TIMER_SLACK_NS, set here before
// the Go runtime starts its threads, which inherit it. What husk starts for others gets the caller's
// slack back: the container's processes (set before the clone below, or by initproc before execve),
// hooks and ps (system.WithCallerTimerSlack). husk_caller_slack is the caller's slack, 0 when husk
// kept it (it was already as coarse); a husk process started by husk learns it from _HUSK_TIMERSLACK.
#define HUSK_TIMER_SLACK_NS 500000UL
unsigned long husk_caller_slack;

static void coarse_timer_slack(void)
{
	const char *env = getenv("_HUSK_TIMERSLACK");
	unsigned long caller;
	if (env && *env) {
		char *end;
		errno = 0;
		caller = strtoul(env, &end, 10);
		if (errno || *end || caller == 0)
			return;
	} else {
		int cur = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
		if (cur <= 0 || (unsigned long)cur >= HUSK_TIMER_SLACK_NS)
			return;
		caller = (unsigned long)cur;
	}
	if (prctl(PR_SET_TIMERSLACK, HUSK_TIMER_SLACK_NS, 0, 0, 0) == 0)
		husk_caller_slack = caller;
}

unsigned long husk_timer_slack(void) { return HUSK_TIMER_SLACK_NS; }

void husk_json_escape(char *out, size_t outsz, const char *in)
{
	size_t o = 0;
	for (; *in && o + 7 < outsz; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = c;
		} else if (c < 0x20) {
			o += snprintf(out + o, outsz - o, "\\u%04x", c);
		} else {
			out[o++] = c;
		}
	}
	out[o] = 0;
}

static void send_msg(const char *msg)
{
	ssize_t n;
	do {
		n = send(syncfd, msg, strlen(msg), MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
}

static void __attribute__((noreturn, format(printf, 1, 2))) bail(const char *fmt, ...)
{
	char text[1024], esc[2048], msg[2200];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (saved) {
		size_t l = strlen(text);
		snprintf(text + l, sizeof(text) - l, ": %s", strerror(saved));
	}
	husk_json_escape(esc, sizeof(esc), text);
	snprintf(msg, sizeof(msg), "{\"type\":\"error\",\"msg\":\"nsenter: %s\"}", esc);
	send_msg(msg);
	_exit(1);
}

static void write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		bail("open %s", path);
	if (write(fd, data, len) != (ssize_t)len)
		bail("write %s", path);
	close(fd);
}

static const char *ns_name(uint32_t flag)
{
	switch (flag) {
	case CLONE_NEWUSER: return "user";
	case CLONE_NEWNS: return "mnt";
	case CLONE_NEWPID: return "pid";
	case CLONE_NEWNET: return "net";
	case CLONE_NEWUTS: return "uts";
	case CLONE_NEWIPC: return "ipc";
	case CLONE_NEWCGROUP: return "cgroup";
	case CLONE_NEWTIME: return "time";
	}
	return "unknown";
}

// become_root makes us uid/gid 0 of the user namespace we just entered or created.
static void become_root(void)
{
	if (setresgid(0, 0, 0) < 0)
		bail("setresgid(0) in user namespace");
	if (setresuid(0, 0, 0) < 0)
		bail("setresuid(0) in user namespace");
}

static void wait_ack(void)
{
	char buf[64];
	ssize_t n;
	do {
		n = recv(syncfd, buf, sizeof(buf) - 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		bail("waiting for the parent to write the id mappings");
	buf[n] = 0;
	if (!strstr(buf, "\"usermap-done\""))
		bail("unexpected message from the parent: %.60s", buf);
}

void husk_nsenter(void)
{
	coarse_timer_slack();
	const char *env = getenv("_HUSK_INITPIPE");
	if (!env || !*env)
		return;
	syncfd = atoi(env);
	if (syncfd < 3)
		bail("invalid _HUSK_INITPIPE %s", env);

	static char boot[MAX_BOOT];
	ssize_t n;
	do {
		n = recv(syncfd, boot, sizeof(boot), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		bail("read bootstrap message");
	if (n == 0) {
		errno = 0;
		bail("the parent closed the sync socket before bootstrap");
	}

	uint32_t cloneflags = 0;
	uint32_t ns_flag[MAX_NS];
	const char *ns_path[MAX_NS];
	int nns = 0;
	const char *oom = NULL, *timens = NULL;
	size_t oomlen = 0, timenslen = 0;
	int pidfd = -1;
	uint32_t pidfd_flags = 0;
	const char *exec_blob = NULL;
	size_t exec_len = 0;
	const char *cgroup_dir[MAX_CGROUPS];
	int ncg = 0;

	for (ssize_t off = 0; off + 8 <= n;) {
		uint32_t type, len;
		memcpy(&type, boot + off, 4);
		memcpy(&len, boot + off + 4, 4);
		off += 8;
		if (len > (size_t)(n - off)) {
			errno = 0;
			bail("truncated bootstrap record %u", type);
		}
		char *val = boot + off;
		switch (type) {
		case BOOT_CLONE_FLAGS:
			if (len != 4) {
				errno = 0;
				bail("bad clone flags record");
			}
			memcpy(&cloneflags, val, 4);
			break;
		case BOOT_NS_PATH:
			if (len < 6 || val[len - 1] != 0 || nns == MAX_NS) {
				errno = 0;
				bail("bad namespace path record");
			}
			memcpy(&ns_flag[nns], val, 4);
			ns_path[nns] = val + 4;
			nns++;
			break;
		case BOOT_OOM_SCORE:
			oom = val;
			oomlen = len;
			break;
		case BOOT_PIDFD:
			if (len != 8) {
				errno = 0;
				bail("bad pidfd record");
			}
			memcpy(&pidfd, val, 4);
			memcpy(&pidfd_flags, val + 4, 4);
			break;
		case BOOT_TIMENS:
			timens = val;
			timenslen = len;
			break;
		case BOOT_EXEC:
			exec_blob = val;
			exec_len = len;
			break;
		case BOOT_CGROUP:
			if (len < 2 || val[0] != '/' || val[len - 1] != 0 || ncg == MAX_CGROUPS) {
				errno = 0;
				bail("bad cgroup record");
			}
			cgroup_dir[ncg++] = val;
			break;
		default:
			errno = 0;
			bail("unknown bootstrap record %u", type);
		}
		off += len;
	}

	// Into the container's cgroups first, in the host's namespaces, before anything we fork. "0" moves
	// the writing thread, which is the whole process here: the Go runtime has not started.
	for (int i = 0; i < ncg; i++) {
		char path[4096];
		if (snprintf(path, sizeof(path), "%s/tasks", cgroup_dir[i]) >= (int)sizeof(path)) {
			errno = ENAMETOOLONG;
			bail("join cgroup %s", cgroup_dir[i]);
		}
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			bail("join cgroup %s", cgroup_dir[i]);
		close(fd);
	}

	if (oom && oomlen)
		write_file("/proc/self/oom_score_adj", oom, oomlen);

	// exec: join every namespace of the container's init at once, through its pidfd (no PID-reuse race,
	// and the kernel orders the user namespace correctly).
	if (pidfd >= 0 && pidfd_flags) {
		if (setns(pidfd, (int)pidfd_flags) < 0)
			bail("setns into the container's namespaces (0x%x)", pidfd_flags);
		close(pidfd);
		if (pidfd_flags & CLONE_NEWUSER)
			become_root();
	}

	// Open all namespace files before joining any: after joining a mount namespace the
	// paths would resolve in the container.
	int ns_fd[MAX_NS];
	for (int i = 0; i < nns; i++) {
		ns_fd[i] = open(ns_path[i], O_RDONLY | O_CLOEXEC);
		if (ns_fd[i] < 0)
			bail("open %s namespace %s", ns_name(ns_flag[i]), ns_path[i]);
	}
	// The user namespace first: it grants the privileges needed to join the others.
	for (int i = 0; i < nns; i++) {
		if (ns_flag[i] != CLONE_NEWUSER)
			continue;
		if (setns(ns_fd[i], CLONE_NEWUSER) < 0)
			bail("setns user namespace %s", ns_path[i]);
		become_root();
	}
	for (int i = 0; i < nns; i++) {
		if (ns_flag[i] == CLONE_NEWUSER)
			continue;
		if (setns(ns_fd[i], (int)ns_flag[i]) < 0)
			bail("setns %s namespace %s", ns_name(ns_flag[i]), ns_path[i]);
	}
	for (int i = 0; i < nns; i++)
		close(ns_fd[i]);

	if (cloneflags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("unshare user namespace");
		// The parent (root in the parent namespace) writes our maps.
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
			bail("prctl(PR_SET_DUMPABLE)");
		char msg[64];
		snprintf(msg, sizeof(msg), "{\"type\":\"usermap\",\"pid\":%d}", getpid());
		send_msg(msg);
		wait_ack();
		become_root();
		// The credential change made us non-dumpable, which makes /proc/self/* owned by the (unmapped)
		// host root: timens_offsets and friends would be unwritable. execve resets it again.
		if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
			bail("prctl(PR_SET_DUMPABLE)");
	}
	uint32_t rest = cloneflags & ~(uint32_t)CLONE_NEWUSER;
	if (rest && unshare((int)rest) < 0)
		bail("unshare namespaces 0x%x", rest);
	if ((cloneflags & CLONE_NEWTIME) && timens && timenslen)
		write_file("/proc/self/timens_offsets", timens, timenslen);

	// The container's init: a child of our parent (so it is the create command's child and, once
	// that exits, the caller's subreaper's), PID 1 when a PID namespace was created.
	// The child's thread starts with the caller's timer slack as its default (prctl(PR_SET_TIMERSLACK, 0)
	// returns to it) and current value; the Go init takes husk's again until its execve.
	if (husk_caller_slack && prctl(PR_SET_TIMERSLACK, husk_caller_slack, 0, 0, 0) < 0)
		bail("prctl(PR_SET_TIMERSLACK)");
	pid_t child = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
	if (child < 0)
		bail("clone container init");
	if (child == 0) {
		if (exec_blob)
			husk_exec_init(syncfd, exec_blob, exec_len); // no Go runtime at all
		if (husk_caller_slack)
			prctl(PR_SET_TIMERSLACK, HUSK_TIMER_SLACK_NS, 0, 0, 0);
		return; // into the Go runtime: libcontainer/initproc
	}

	char msg[64];
	snprintf(msg, sizeof(msg), "{\"type\":\"pid\",\"pid\":%d}", child);
	send_msg(msg);
	_exit(0);
}
