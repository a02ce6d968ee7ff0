// The traced operations of the sensor-overhead benchmark (bench/sensors.mjs). Runs one operation
// in a loop for SECONDS (after a short warm-up), timed in SLICES equal slices, and prints
// `OPS NS_PER_OP OPS_WITH_WARMUP`, NS_PER_OP being the median over the slices:
//   overhead getppid SECONDS          getppid(2): one syscall enter/exit pair
//   overhead tcp SECONDS              loopback connect + accept + close of both ends (client RST)
//   overhead blockio SECONDS FILE     4 KiB O_DIRECT pwrite + fdatasync of FILE (not on tmpfs)
//   overhead pingpong SECONDS         one byte there and back over two pipes between two
//                                     processes pinned to one CPU (wakeups and context switches)
//   overhead forkexec SECONDS PROGRAM vfork + exec PROGRAM + waitpid (fork, exec, exit)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP_SECONDS 0.1
/* A burst of other load spoils a slice or two, not the median of ten. */
#define SLICES 10

typedef int (*op_fn)(void *ctx);

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *what) {
	fprintf(stderr, "overhead: %s: %s\n", what, strerror(errno));
	return -1;
}

/* Runs op in batches of `batch` (so the clock read is negligible) until `seconds` have passed. */
static long run_for(double seconds, long batch, op_fn op, void *ctx, double *elapsed) {
	long n = 0;
	double t0 = now(), t;
	do {
		for (long i = 0; i < batch; i++)
			if (op(ctx)) return -1;
		n += batch;
	} while ((t = now()) - t0 < seconds);
	*elapsed = t - t0;
	return n;
}

static int cmp_double(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int measure(double seconds, long batch, op_fn op, void *ctx) {
	double elapsed, ns[SLICES];
	long warm = run_for(WARMUP_SECONDS, batch, op, ctx, &elapsed), n = 0;
	if (warm < 0) return 1;
	for (int i = 0; i < SLICES; i++) {
		long k = run_for(seconds / SLICES, batch, op, ctx, &elapsed);
		if (k < 0) return 1;
		ns[i] = elapsed * 1e9 / k;
		n += k;
	}
	qsort(ns, SLICES, sizeof(ns[0]), cmp_double);
	printf("%ld %.1f %ld\n", n, (ns[SLICES / 2 - 1] + ns[SLICES / 2]) / 2, warm + n);
	return 0;
}

/* glibc does not cache getppid, but call the syscall directly to be sure each op enters the kernel. */
static int op_getppid(void *ctx) {
	(void)ctx;
	syscall(SYS_getppid);
	return 0;
}

struct tcp_ctx {
	int listener;
	struct sockaddr_in addr;
};

static int tcp_listen(struct tcp_ctx *c) {
	c->listener = socket(AF_INET, SOCK_STREAM, 0);
	if (c->listener < 0) return fail("socket");
	c->addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(c->addr);
	if (bind(c->listener, (struct sockaddr *)&c->addr, len)) return fail("bind");
	if (listen(c->listener, 16)) return fail("listen");
	if (getsockname(c->listener, (struct sockaddr *)&c->addr, &len)) return fail("getsockname");
	return 0;
}

/*
 * The client aborts (SO_LINGER 0: RST, no TIME_WAIT): hundreds of thousands of TIME_WAIT sockets
 * would make each connect's port search slower and slower, drowning what the probes cost.
 */
static int op_tcp(void *ctx) {
	struct tcp_ctx *c = ctx;
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) return fail("socket");
	if (setsockopt(s, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close))) return fail("SO_LINGER");
	if (connect(s, (struct sockaddr *)&c->addr, sizeof(c->addr))) return fail("connect");
	int a = accept(c->listener, NULL, NULL);
	if (a < 0) return fail("accept");
	close(s);
	close(a);
	return 0;
}

struct block_ctx {
	int fd;
	void *buf;
};

static int op_blockio(void *ctx) {
	struct block_ctx *c = ctx;
	if (pwrite(c->fd, c->buf, 4096, 0) != 4096) return fail("pwrite");
	if (fdatasync(c->fd)) return fail("fdatasync");
	return 0;
}

static int block_open(struct block_ctx *c, const char *path) {
	c->fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0600);
	if (c->fd < 0) return fail(path);
	struct statfs fs;
	if (fstatfs(c->fd, &fs)) return fail("fstatfs");
	/* tmpfs has no block device: nothing would reach block_rq_issue. */
	if (fs.f_type == TMPFS_MAGIC) {
		fprintf(stderr, "overhead: %s is on tmpfs, not on a disk\n", path);
		return -1;
	}
	if (posix_memalign(&c->buf, 4096, 4096)) return fail("posix_memalign");
	memset(c->buf, 0xa5, 4096);
	return 0;
}

struct pingpong_ctx {
	int to_child, from_child;
};

static int op_pingpong(void *ctx) {
	struct pingpong_ctx *c = ctx;
	char b = 1;
	if (write(c->to_child, &b, 1) != 1) return fail("write");
	if (read(c->from_child, &b, 1) != 1) return fail("read");
	return 0;
}

static int pin_here(void) {
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	return sched_setaffinity(0, sizeof(set), &set) ? fail("sched_setaffinity") : 0;
}

/* The child echoes every byte until the parent closes its pipe. */
static int pingpong_start(struct pingpong_ctx *c) {
	int down[2], up[2];
	if (pin_here()) return -1;
	if (pipe(down) || pipe(up)) return fail("pipe");
	pid_t pid = fork();
	if (pid < 0) return fail("fork");
	if (pid == 0) {
		char b;
		close(down[1]);
		close(up[0]);
		while (read(down[0], &b, 1) == 1)
			if (write(up[1], &b, 1) != 1) _exit(1);
		_exit(0);
	}
	close(down[0]);
	close(up[1]);
	c->to_child = down[1];
	c->from_child = up[0];
	return 0;
}

static int op_forkexec(void *ctx) {
	char *prog = ctx;
	pid_t pid = vfork();
	if (pid < 0) return fail("vfork");
	if (pid == 0) {
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0) return fail("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "overhead: %s failed (status %d)\n", prog, status);
		return -1;
	}
	return 0;
}

static int usage(void) {
	fprintf(stderr, "usage: overhead getppid|tcp|pingpong SECONDS | overhead blockio SECONDS FILE |"
			" overhead forkexec SECONDS PROGRAM\n");
	return 2;
}

int main(int argc, char **argv) {
	if (argc < 3) return usage();
	const char *op = argv[1];
	double seconds = atof(argv[2]);
	if (seconds <= 0) return usage();
	/* Top priority: other load on a shared machine disturbs the measurement less (children inherit it). */
	if (setpriority(PRIO_PROCESS, 0, -20)) fail("setpriority");
	if (!strcmp(op, "getppid") && argc == 3) return measure(seconds, 1000, op_getppid, NULL);
	if (!strcmp(op, "tcp") && argc == 3) {
		struct tcp_ctx c;
		return tcp_listen(&c) ? 1 : measure(seconds, 1, op_tcp, &c);
	}
	if (!strcmp(op, "blockio") && argc == 4) {
		struct block_ctx c;
		int rc = block_open(&c, argv[3]) ? 1 : measure(seconds, 1, op_blockio, &c);
		unlink(argv[3]);
		return rc;
	}
	if (!strcmp(op, "pingpong") && argc == 3) {
		struct pingpong_ctx c;
		if (pingpong_start(&c)) return 1;
		int rc = measure(seconds, 10, op_pingpong, &c);
		close(c.to_child);
		wait(NULL);
		return rc;
	}
	if (!strcmp(op, "forkexec") && argc == 4) return measure(seconds, 1, op_forkexec, argv[3]);
	return usage();
}
