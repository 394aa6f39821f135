// husk exec init in C: the process started by `husk exec`, set up without starting the Go runtime.
//
// nsenter has joined the container's namespaces through its init's pidfd and forked this process into
// them. When the bootstrap carries a BOOT_EXEC record (libcontainer/sync.ExecBoot; the parent sends one
// only for processes whose every attribute is handled here: no terminal, LSM label, scheduler, I/O
// priority, CPU affinity or seccomp notify listener), this file does what libcontainer/initproc does for
// an exec, in the same order, and execs the process:
//   setsid; wait for the parent (it has our pid; rootless v1: the cgroup move); HOME from /etc/passwd; rlimits; bounding set; groups,
//   gid, uid (keeping capabilities); chdir and the getcwd check; the PATH lookup; no_new_privs; umask;
//   close-on-exec from 3+preserved; "ready"; seccomp and capabilities; execve.
// Errors are reported as {"type":"error","msg":...} with the texts the Go init uses, and the process
// exits 1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "execinit.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

// Records inside BOOT_EXEC; keep in sync with libcontainer/sync (ExecBoot).
enum {
	EX_ARG = 1,        // string: one argv entry, in order
	EX_ENV = 2,        // string: one environment entry
	EX_CWD = 3,        // string
	EX_USER = 4,       // u32 uid, u32 gid, u32 umask, u32 additional gids...
	EX_RLIMIT = 5,     // u32 resource, u64 soft, u64 hard, name
	EX_CAPS = 6,       // u64 bounding, effective, permitted, inheritable, ambient (ambient already filtered)
	EX_NNP = 7,        // no_new_privs
	EX_SECCOMP = 8,    // u32 flags, struct sock_filter[]
	EX_PRESERVE = 9,   // u32 number of preserved fds after stdio
	EX_ARG0_QUOTED = 11, // args[0] quoted as Go's %q does, for messages
	EX_CWD_QUOTED = 12,  // cwd quoted likewise
	EX_LASTCAP = 13,   // u32 the kernel's last capability
};

#define MAX_ARGS 4096
#define MAX_RLIMITS 32

struct rlim_rec {
	uint32_t res;
	uint64_t soft, hard;
	const char *name;
};

static int xfd = -1;

static void xsend(const char *msg)
{
	ssize_t n;
	do {
		n = send(xfd, msg, strlen(msg), MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
}

// errtext is strerror as Go prints errno values: lower-case first letter.
static const char *errtext(int e, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	char text[2048], esc[4200], msg[4300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	husk_json_escape(esc, sizeof(esc), text);
	snprintf(msg, sizeof(msg), "{\"type\":\"error\",\"msg\":\"%s\"}", esc);
	xsend(msg);
	_exit(1);
}

// fail_errno is fail with ": <errno text>" appended.
#define fail_errno(e, fmt, ...)                                                                    \
	do {                                                                                       \
		char eb_[128];                                                                     \
		fail(fmt ": %s", ##__VA_ARGS__, errtext((e), eb_, sizeof(eb_)));                   \
	} while (0)

static void expect(const char *type)
{
	char buf[256], want[64];
	ssize_t n;
	do {
		n = recv(xfd, buf, sizeof(buf) - 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		_exit(1); // the parent is gone: nothing to report to
	buf[n] = 0;
	snprintf(want, sizeof(want), "\"type\":\"%s\"", type);
	if (!strstr(buf, want))
		fail("sync: unexpected message %.60s, want %s", buf, type);
}

static uint32_t u32at(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t u64at(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

// lookpath resolves file as Go's exec.LookPath does (procattr.LookPath): names with a slash are used as
// they are; others are searched in PATH. Returns the path, or fails with the Go init's message.
static const char *lookpath(const char *file, const char *quoted, const char *pathenv, char *buf, size_t sz)
{
	struct stat st;
	char eb[128];
	if (!*file || !strcmp(file, ".") || !strcmp(file, ".."))
		fail("exec: %s: executable file not found in $PATH", quoted);
	if (strchr(file, '/')) {
		if (stat(file, &st) < 0)
			fail("exec: %s: stat %s: %s", quoted, file, errtext(errno, eb, sizeof(eb)));
		if (S_ISDIR(st.st_mode))
			fail("exec: %s: is a directory", quoted);
		if (faccessat(AT_FDCWD, file, X_OK, AT_EACCESS) < 0) {
			int e = errno;
			if ((e != ENOSYS && e != EPERM) || !(st.st_mode & 0111))
				fail("exec: %s: %s", quoted, errtext(e == ENOSYS || e == EPERM ? EACCES : e, eb, sizeof(eb)));
		}
		return file;
	}
	if (!pathenv || !*pathenv) // an empty PATH has no entries (Go's filepath.SplitList)
		fail("exec: %s: executable file not found in $PATH", quoted);
	const char *p = pathenv;
	for (;;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0)
			snprintf(buf, sz, "./%s", file);
		else
			snprintf(buf, sz, "%.*s/%s", (int)len, p, file);
		if (stat(buf, &st) == 0 && !S_ISDIR(st.st_mode)) {
			int ok = faccessat(AT_FDCWD, buf, X_OK, AT_EACCESS) == 0;
			if (!ok && (errno == ENOSYS || errno == EPERM))
				ok = (st.st_mode & 0111) != 0;
			if (ok)
				return buf;
		}
		if (!end)
			break;
		p = end + 1;
	}
	fail("exec: %s: executable file not found in $PATH", quoted);
}

// home returns the home directory of uid in the container's /etc/passwd, or "/". Only a regular file
// is read, and at most MAX_PASSWD bytes of it: a FIFO or a device there must not hang the exec.
#define MAX_PASSWD (4 << 20)
static void home_of(uint32_t uid, char *out, size_t sz)
{
	snprintf(out, sz, "/");
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return;
	}
	char line[1024];
	long done = 0;
	while (done < MAX_PASSWD && fgets(line, sizeof(line), f)) {
		done += (long)strlen(line) + 1;
		char *fld[7];
		int nf = 0;
		char *s = line;
		line[strcspn(line, "\n")] = 0;
		while (nf < 7) {
			fld[nf++] = s;
			s = strchr(s, ':');
			if (!s)
				break;
			*s++ = 0;
		}
		if (nf >= 6 && *fld[5]) {
			char *endp;
			errno = 0;
			unsigned long v = strtoul(fld[2], &endp, 10);
			if (!errno && *fld[2] && !*endp && v == uid) {
				snprintf(out, sz, "%s", fld[5]);
				break;
			}
		}
	}
	fclose(f);
}

static void capset_all(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	data[0].effective = (uint32_t)eff;
	data[1].effective = (uint32_t)(eff >> 32);
	data[0].permitted = (uint32_t)perm;
	data[1].permitted = (uint32_t)(perm >> 32);
	data[0].inheritable = (uint32_t)inh;
	data[1].inheritable = (uint32_t)(inh >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail_errno(errno, "capset");
}

static void apply_caps(const uint64_t caps[5], uint32_t lastcap)
{
	capset_all(caps[1], caps[2], caps[3]);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		fail_errno(errno, "clear the ambient set");
	for (uint32_t c = 0; c <= lastcap && c < 64; c++) {
		if (!(caps[4] & (1ULL << c)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			fail_errno(errno, "raise ambient capability %u (it must be permitted and inheritable)", c);
	}
}

// raise_effective makes the effective set equal to the permitted one (loading a filter without
// no_new_privs needs CAP_SYS_ADMIN in it).
static void raise_effective(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		fail_errno(errno, "capget");
	data[0].effective = data[0].permitted;
	data[1].effective = data[1].permitted;
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail_errno(errno, "capset");
}

static void load_seccomp(uint32_t flags, const char *filter, size_t len)
{
	// The filter travels unaligned inside the bootstrap record: copy it.
	static struct sock_filter prog[BPF_MAXINSNS];
	size_t n = len / sizeof(struct sock_filter);
	if (n == 0 || n > BPF_MAXINSNS)
		fail("seccomp: load: program has %zu instructions, limit is %d", n, BPF_MAXINSNS);
	memcpy(prog, filter, n * sizeof(struct sock_filter));
	struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog) < 0)
		fail_errno(errno, "seccomp: load filter (flags %#x)", flags);
}

void husk_exec_init(int syncfd, const char *blob, size_t bloblen)
{
	static char *argv[MAX_ARGS + 1], *envp[MAX_ARGS + 2];
	static struct rlim_rec rl[MAX_RLIMITS];
	int argc = 0, envc = 0, nrl = 0;
	const char *cwd = "/", *arg0q = "\"\"", *cwdq = "\"/\"";
	uint32_t uid = 0, gid = 0, umask_v = 022, lastcap = 40, preserve = 0;
	const char *gids = NULL;
	size_t ngids = 0;
	uint64_t caps[5] = {0, 0, 0, 0, 0};
	int nnp = 0;
	uint32_t sflags = 0;
	const char *sfilter = NULL;
	size_t sfilterlen = 0;

	xfd = syncfd;
	for (size_t off = 0; off + 8 <= bloblen;) {
		uint32_t type = u32at(blob + off), len = u32at(blob + off + 4);
		off += 8;
		if (len > bloblen - off)
			fail("exec bootstrap: truncated record %u", type);
		const char *v = blob + off;
		int str = len > 0 && v[len - 1] == 0;
		switch (type) {
		case EX_ARG:
			if (!str || argc == MAX_ARGS)
				fail("exec bootstrap: bad argument record");
			argv[argc++] = (char *)v;
			break;
		case EX_ENV:
			if (!str || envc == MAX_ARGS)
				fail("exec bootstrap: bad environment record");
			envp[envc++] = (char *)v;
			break;
		case EX_CWD:
			if (!str)
				fail("exec bootstrap: bad cwd record");
			cwd = v;
			break;
		case EX_ARG0_QUOTED:
			if (!str)
				fail("exec bootstrap: bad record");
			arg0q = v;
			break;
		case EX_CWD_QUOTED:
			if (!str)
				fail("exec bootstrap: bad record");
			cwdq = v;
			break;
		case EX_USER:
			if (len < 12 || (len - 12) % 4)
				fail("exec bootstrap: bad user record");
			uid = u32at(v);
			gid = u32at(v + 4);
			umask_v = u32at(v + 8);
			gids = v + 12;
			ngids = (len - 12) / 4;
			break;
		case EX_RLIMIT:
			if (len < 21 || v[len - 1] != 0 || nrl == MAX_RLIMITS)
				fail("exec bootstrap: bad rlimit record");
			rl[nrl].res = u32at(v);
			rl[nrl].soft = u64at(v + 4);
			rl[nrl].hard = u64at(v + 12);
			rl[nrl].name = v + 20;
			nrl++;
			break;
		case EX_CAPS:
			if (len != 40)
				fail("exec bootstrap: bad capabilities record");
			for (int i = 0; i < 5; i++)
				caps[i] = u64at(v + 8 * i);
			break;
		case EX_NNP:
			nnp = 1;
			break;
		case EX_SECCOMP:
			if (len < 4 + sizeof(struct sock_filter))
				fail("exec bootstrap: bad seccomp record");
			sflags = u32at(v);
			sfilter = v + 4;
			sfilterlen = len - 4;
			break;
		case EX_PRESERVE:
			if (len != 4)
				fail("exec bootstrap: bad record");
			preserve = u32at(v);
			break;
		case EX_LASTCAP:
			if (len != 4)
				fail("exec bootstrap: bad record");
			lastcap = u32at(v);
			break;
		default:
			fail("exec bootstrap: unknown record %u", type);
		}
		off += len;
	}
	if (argc == 0)
		fail("exec: process args must not be empty");
	argv[argc] = NULL;

	if (setsid() < 0)
		fail_errno(errno, "setsid");
	// Wait for the parent before anything else: it says cgroup-done once it has our pid and we are in
	// the container's cgroup (stage 0 joined it, or, rootless on cgroup v1, the parent moved us while
	// we started). We do not ask: a message of ours could reach the parent before nsenter's "pid".
	expect("cgroup-done");
	const char *pathenv = NULL;
	int has_home = 0;
	for (int i = 0; i < envc; i++) {
		if (!strncmp(envp[i], "HOME=", 5))
			has_home = 1;
		if (!strncmp(envp[i], "PATH=", 5))
			pathenv = envp[i] + 5; // the last one wins, as with Go's lookup
	}
	static char homebuf[1100];
	if (!has_home) {
		char h[1024];
		home_of(uid, h, sizeof(h));
		snprintf(homebuf, sizeof(homebuf), "HOME=%s", h);
		envp[envc++] = homebuf;
	}
	envp[envc] = NULL;

	for (int i = 0; i < nrl; i++) {
		struct rlimit old, lim = {.rlim_cur = rl[i].soft, .rlim_max = rl[i].hard};
		if (prlimit(0, rl[i].res, NULL, &old) < 0)
			fail_errno(errno, "get %s", rl[i].name);
		if (prlimit(0, rl[i].res, &lim, NULL) < 0) {
			int e = errno;
			char eb[128];
			if (e == EPERM && rl[i].hard > old.rlim_max)
				fail("set %s to soft %llu, hard %llu: %s (raising the hard limit above %llu needs CAP_SYS_RESOURCE)",
				     rl[i].name, (unsigned long long)rl[i].soft, (unsigned long long)rl[i].hard,
				     errtext(e, eb, sizeof(eb)), (unsigned long long)old.rlim_max);
			fail("set %s to soft %llu, hard %llu: %s", rl[i].name, (unsigned long long)rl[i].soft,
			     (unsigned long long)rl[i].hard, errtext(e, eb, sizeof(eb)));
		}
	}

	for (uint32_t c = 0; c <= lastcap && c < 64; c++) {
		if (caps[0] & (1ULL << c))
			continue;
		// Dropping a capability that is already out succeeds with CAP_SETPCAP; without it (EPERM)
		// that is fine too.
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0)
			continue;
		int err = errno;
		if (err == EPERM && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 0)
			continue; // already dropped
		fail_errno(err, "drop capability %u from the bounding set", c);
	}

	// Groups first (skipped when the user namespace denies setgroups and there are none to set).
	int set_groups = 1;
	if (ngids == 0) {
		int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			char b[16] = {0};
			ssize_t n = read(fd, b, sizeof(b) - 1);
			close(fd);
			if (n >= 4 && !strncmp(b, "deny", 4))
				set_groups = 0;
		} else if (errno != ENOENT) {
			fail_errno(errno, "read /proc/self/setgroups");
		}
	}
	if (set_groups) {
		static gid_t gl[65536];
		if (ngids > 65536)
			fail("setgroups: too many groups");
		for (size_t i = 0; i < ngids; i++)
			gl[i] = u32at(gids + 4 * i);
		if (syscall(SYS_setgroups, ngids, gl) < 0)
			fail_errno(errno, "setgroups");
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail_errno(errno, "set keepcaps");
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		fail_errno(errno, "setresgid %u", gid);
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		fail_errno(errno, "setresuid %u", uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fail_errno(errno, "clear keepcaps");

	if (chdir(cwd) < 0)
		fail_errno(errno, "chdir to cwd (%s) set in config.json failed", cwdq);
	// CVE-2024-21626: a cwd reached through a leaked host fd is outside the root; getcwd says so.
	static char wd[4097];
	if (!getcwd(wd, sizeof(wd)) || wd[0] != '/')
		fail("cwd %s: current working directory is outside of container mount namespace root -- possible container breakout detected",
		     cwdq);
	static char pathbuf[8192];
	const char *path = lookpath(argv[0], arg0q, pathenv, pathbuf, sizeof(pathbuf));
	if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail_errno(errno, "set no_new_privs");
	umask((mode_t)umask_v);

	// Only stdio and the preserved fds survive execve; the sync socket among the rest, so EOF after
	// "ready" tells the parent that execve succeeded.
	if (syscall(SYS_close_range, 3 + preserve, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = 3 + (int)preserve; fd < 65536; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	xsend("{\"type\":\"ready\"}");

	// As late as possible: with no_new_privs the capabilities come first and only execve follows the
	// filter; without it, loading needs CAP_SYS_ADMIN, so the filter goes in first.
	if (!sfilter) {
		apply_caps(caps, lastcap);
	} else if (nnp) {
		apply_caps(caps, lastcap);
		load_seccomp(sflags, sfilter, sfilterlen);
	} else {
		raise_effective();
		load_seccomp(sflags, sfilter, sfilterlen);
		apply_caps(caps, lastcap);
	}
	execve(path, argv, envp);
	fail_errno(errno, "exec %s", arg0q);
}
