// Process-event storms for the process sensor, for N seconds with W workers, printing how many
// tasks were created:
//   storm SECONDS WORKERS exec PROGRAM  vfork+exec PROGRAM and wait (fork, exec, exit events)
//   storm SECONDS WORKERS threads       create and join threads (a fork event each, at a high rate)
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *nothing(void *arg) {
	return arg;
}

static long run_exec(double end, char *prog) {
	long n = 0;
	while (now() < end) {
		pid_t pid = vfork();
		if (pid == 0) {
			execl(prog, prog, (char *)NULL);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
		n++;
	}
	return n;
}

static long run_threads(double end) {
	long n = 0;
	while (now() < end) {
		pthread_t t;
		if (pthread_create(&t, NULL, nothing, NULL)) break;
		pthread_join(t, NULL);
		n++;
	}
	return n;
}

int main(int argc, char **argv) {
	int threads = argc == 4 && !strcmp(argv[3], "threads");
	if (!threads && !(argc == 5 && !strcmp(argv[3], "exec"))) {
		fprintf(stderr, "usage: storm SECONDS WORKERS exec PROGRAM | storm SECONDS WORKERS threads\n");
		return 1;
	}
	double seconds = atof(argv[1]);
	int workers = atoi(argv[2]);
	int fds[2];
	if (pipe(fds)) return 1;
	pid_t parent = getpid();
	for (int w = 0; w < workers; w++) {
		if (fork() == 0) {
			/* A storm stopped early (bench/freshness.mjs) stops its workers too: one left
			 * running kept creating threads through the benches after it. */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent) _exit(1);
			double end = now() + seconds;
			long n = threads ? run_threads(end) : run_exec(end, argv[4]);
			if (write(fds[1], &n, sizeof(n)) != sizeof(n)) _exit(1);
			_exit(0);
		}
	}
	long total = 0;
	for (int w = 0; w < workers; w++) {
		long n;
		if (read(fds[0], &n, sizeof(n)) != sizeof(n)) return 1;
		total += n;
		wait(NULL);
	}
	printf("%ld\n", total);
	return 0;
}
