// Syscall driver of the pipeline throughput benchmark (bench/throughput.mjs): makes getppid(2)
// calls, the cheapest syscall, each one a bench_syscall record when the bench sensor targets
// this process. `syscall-driver CPU` pins itself to CPU, prints `ready PID` and then runs one
// command per stdin line until EOF:
//   RATE SECONDS   getppid RATE times a second (0: flat out) for SECONDS, then prints
//                  `CALLS ELAPSED_NS NS_PER_OP`, NS_PER_OP being the median of ten slices
//                  (flat out only; 0 when paced)
// Paced runs call in 1 ms bursts and sleep (clock_nanosleep, absolute) between them, so the
// driver leaves the CPU to the pipeline instead of spinning; clock_gettime is the vDSO, no
// syscall. The driver's few other syscalls (the sleeps, reading stdin, writing results) are
// traced too: the bench counts what the kernel submitted, not only these calls.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SLICES 10
#define BURST_NS 1000000L

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The raw syscall: glibc does not cache getppid, but say so explicitly. */
static inline void op(void)
{
	syscall(SYS_getppid);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Flat out in SLICES equal slices; a burst of other load spoils a slice, not the median. */
static long flat_out(double seconds, long long *elapsed, double *ns_per_op)
{
	double per_slice[SLICES];
	long long t0 = now_ns(), slice_ns = seconds * 1e9 / SLICES;
	long total = 0;

	for (int s = 0; s < SLICES; s++) {
		long long start = now_ns(), end = t0 + (s + 1) * slice_ns, t;
		long n = 0;

		do {
			for (int i = 0; i < 256; i++)
				op();
			n += 256;
		} while ((t = now_ns()) < end);
		per_slice[s] = (double)(t - start) / n;
		total += n;
	}
	*elapsed = now_ns() - t0;
	qsort(per_slice, SLICES, sizeof(per_slice[0]), cmp_double);
	*ns_per_op = (per_slice[SLICES / 2 - 1] + per_slice[SLICES / 2]) / 2;
	return total;
}

/* RATE calls a second: every 1 ms, catch up with RATE × elapsed, then sleep to the next ms. */
static long paced(double rate, double seconds, long long *elapsed)
{
	long long t0 = now_ns(), end = t0 + (long long)(seconds * 1e9), next = t0, t;
	long done = 0;

	while ((t = now_ns()) < end) {
		long due = (long)((t - t0) * rate / 1e9);
		struct timespec ts;

		while (done < due) {
			op();
			done++;
		}
		next += BURST_NS;
		if (next > t) {
			ts.tv_sec = next / 1000000000LL;
			ts.tv_nsec = next % 1000000000LL;
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
		} else {
			next = t; /* fell behind (preempted): catch up now, do not burst to make up */
		}
	}
	/* The last partial burst, so CALLS is RATE × SECONDS. */
	for (long due = (long)(seconds * rate); done < due; done++)
		op();
	*elapsed = now_ns() - t0;
	return done;
}

int main(int argc, char **argv)
{
	char line[128];
	cpu_set_t set;
	int cpu;

	if (argc != 2 || (cpu = atoi(argv[1])) < 0) {
		fprintf(stderr, "usage: syscall-driver CPU\n");
		return 1;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, "syscall-driver: sched_setaffinity(%d): %s\n", cpu, strerror(errno));
		return 1;
	}
	/* Less disturbed by other load when allowed (root); the bench works without it. */
	setpriority(PRIO_PROCESS, 0, -20);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		double rate, seconds, ns_per_op = 0;
		long long elapsed;
		long calls;

		if (sscanf(line, "%lf %lf", &rate, &seconds) != 2 || rate < 0 || seconds <= 0) {
			fprintf(stderr, "syscall-driver: bad command '%s'\n", line);
			return 1;
		}
		calls = rate == 0 ? flat_out(seconds, &elapsed, &ns_per_op) : paced(rate, seconds, &elapsed);
		printf("%ld %lld %.1f\n", calls, elapsed, ns_per_op);
	}
	return 0;
}
