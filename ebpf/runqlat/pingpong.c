/* Context-switch cost probe for the runqlat README: two processes pinned to one CPU pass a
 * byte back and forth through two pipes, so every round trip is two wakeups and two context
 * switches. Prints wall ns and CPU ns (both processes) per round trip.
 *   usage: pingpong [round_trips=100000] [cpu=0, -1 for no pinning] */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

static double ns(struct timeval tv)
{
	return tv.tv_sec * 1e9 + tv.tv_usec * 1e3;
}

/* User + system time of this process and its waited-for children, in ns: unlike wall time it
 * excludes other tasks' slices on a shared machine. */
static double cpu_ns(void)
{
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return ns(self.ru_utime) + ns(self.ru_stime) + ns(kids.ru_utime) + ns(kids.ru_stime);
}

static void echo_loop(int in, int out, long n)
{
	char c;

	for (long i = 0; i < n; i++)
		if (read(in, &c, 1) != 1 || write(out, &c, 1) != 1)
			_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	int cpu = argc > 2 ? atoi(argv[2]) : 0;
	int to_child[2], to_parent[2], status;
	char c = 0;
	cpu_set_t set;
	struct timespec t0, t1;
	pid_t child;

	CPU_ZERO(&set);
	if (cpu >= 0)
		CPU_SET(cpu, &set);
	if (n <= 0 || (cpu >= 0 && sched_setaffinity(0, sizeof(set), &set))) {
		perror("pingpong: affinity");
		return 1;
	}
	if (pipe(to_child) || pipe(to_parent)) {
		perror("pingpong: pipe");
		return 1;
	}
	child = fork();
	if (child < 0) {
		perror("pingpong: fork");
		return 1;
	}
	if (child == 0)
		echo_loop(to_child[0], to_parent[1], n);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1) {
			perror("pingpong: round trip");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "pingpong: the echo process failed\n");
		return 1;
	}
	printf("%.1f %.1f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n, cpu_ns() / n);
	return 0;
}
