/*
 * floor: the least a container runtime must do to run a process, used by the
 * husk benchmark as the lower bound ("the floor") beside husk, runc and crun.
 *
 *   floor ROOTFS [PROGRAM ARGS...]      (PROGRAM defaults to /bin/true)
 *
 * It clones a child into new mount, PID, UTS, IPC and network namespaces; the
 * child makes / recursively private, bind-mounts ROOTFS onto itself, mounts a
 * fresh /proc inside it, pivot_roots into it, drops every capability except
 * the three of a default OCI spec (AUDIT_WRITE, KILL, NET_BIND_SERVICE) from
 * the bounding, effective, permitted and inheritable sets, and execve()s
 * PROGRAM. The parent waits and exits with the child's status.
 *
 * No cgroups, no seccomp, no state on disk, no /dev: it is a floor, not a
 * runtime. Build: gcc -O2 -o floor floor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_SIZE (256 * 1024)

struct child_args {
	const char *rootfs;
	char **argv;
	int err_fd; /* write end of a close-on-exec pipe: error text goes here */
};

static char *default_argv[] = {"/bin/true", NULL};

/* fail writes "floor: what: strerror" to the error pipe and exits the child. */
static int fail(const struct child_args *a, const char *what)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "floor: %s: %s\n", what, strerror(errno));
	if (n > 0 && write(a->err_fd, buf, (size_t)n) < 0) {
		/* nothing more can be reported */
	}
	_exit(127);
}

static int keep_cap(int cap)
{
	return cap == CAP_AUDIT_WRITE || cap == CAP_KILL || cap == CAP_NET_BIND_SERVICE;
}

static int drop_caps(void)
{
	int cap;
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2];
	__u64 keep = 0;

	/* PR_CAPBSET_DROP fails with EINVAL past the kernel's last capability. */
	for (cap = 0; cap < 64; cap++) {
		if (keep_cap(cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;
			return -1;
		}
	}
	keep = (1ULL << CAP_AUDIT_WRITE) | (1ULL << CAP_KILL) | (1ULL << CAP_NET_BIND_SERVICE);
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = data[0].inheritable = (__u32)keep;
	data[1].effective = data[1].permitted = data[1].inheritable = (__u32)(keep >> 32);
	return (int)syscall(SYS_capset, &hdr, data);
}

static int child_main(void *arg)
{
	const struct child_args *a = arg;
	char proc[4096];

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail(a, "make / rprivate");
	if (mount(a->rootfs, a->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		fail(a, "bind rootfs");
	if (snprintf(proc, sizeof(proc), "%s/proc", a->rootfs) >= (int)sizeof(proc)) {
		errno = ENAMETOOLONG;
		fail(a, "rootfs path");
	}
	if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		fail(a, "mount /proc");
	if (chdir(a->rootfs) < 0)
		fail(a, "chdir rootfs");
	/* pivot_root(".", "."): the old root ends up stacked on the new one. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail(a, "pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		fail(a, "detach old root");
	if (chdir("/") < 0)
		fail(a, "chdir /");
	if (drop_caps() < 0)
		fail(a, "drop capabilities");
	execve(a->argv[0], a->argv, (char *[]){"PATH=/bin:/usr/bin", NULL});
	fail(a, "execve");
	return 127;
}

int main(int argc, char **argv)
{
	static char stack[STACK_SIZE] __attribute__((aligned(16)));
	struct child_args a;
	int pipefd[2], status;
	char buf[512];
	ssize_t n;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: %s ROOTFS [PROGRAM ARGS...]\n", argv[0]);
		return 2;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("floor: pipe");
		return 1;
	}
	a.rootfs = argv[1];
	a.argv = argc > 2 ? &argv[2] : default_argv;
	a.err_fd = pipefd[1];

	pid = clone(child_main, stack + STACK_SIZE,
		    CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD, &a);
	if (pid < 0) {
		perror("floor: clone");
		return 1;
	}
	close(pipefd[1]);
	/* EOF without data: execve succeeded (the pipe is close-on-exec). */
	n = read(pipefd[0], buf, sizeof(buf));
	if (n > 0 && write(2, buf, (size_t)n) < 0) {
		/* stderr is gone: the exit status still tells */
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("floor: waitpid");
			return 1;
		}
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
