/*
 * rsswrap: run a command and report its peak resident set size.
 *
 *   rsswrap OUTFILE PROGRAM [ARGS...]
 *
 * forks, execs PROGRAM in the child, waits for it with wait4() and writes
 * ru_maxrss (KiB) to OUTFILE. The exit status is PROGRAM's (128+signal when
 * it was killed).
 *
 * Why it exists: Linux folds the high-water RSS of the memory a process had
 * before execve into its ru_maxrss. A Go program such as the benchmark
 * starts children with vfork semantics, so every child it spawns directly
 * reports at least the benchmark's own RSS (about 9 MiB). A fork of this
 * small static program carries only this program's memory (well under
 * 1 MiB) into the measured command. Build: gcc -O2 -static -o rsswrap rsswrap.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rusage ru;
	int status;
	pid_t pid;
	FILE *out;

	if (argc < 3) {
		fprintf(stderr, "usage: %s OUTFILE PROGRAM [ARGS...]\n", argv[0]);
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("rsswrap: fork");
		return 1;
	}
	if (pid == 0) {
		execv(argv[2], &argv[2]);
		perror("rsswrap: execv");
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("rsswrap: wait4");
			return 1;
		}
	}
	out = fopen(argv[1], "w");
	if (out == NULL) {
		perror("rsswrap: open output");
		return 1;
	}
	fprintf(out, "%ld\n", ru.ru_maxrss);
	if (fclose(out) != 0) {
		perror("rsswrap: write output");
		return 1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
