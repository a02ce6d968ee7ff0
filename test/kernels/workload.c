/* The deterministic workloads the kernel matrix runs inside each VM, one per sensor, built
 * static for x86_64 and aarch64 (no libc in the VM). Each does a known amount of work that the
 * host then finds, exactly, in the helper's records.
 *   bwload exec N PATH        fork N children that exec PATH `exit7` (a copy named bwexec)
 *   bwload exit7              exit with status 7
 *   bwload tcp N BYTES PORT   N loopback connections; each side sends BYTES, then closes
 *   bwload odirect N DEV      N O_DIRECT 4096-byte writes to DEV, one at a time
 *   bwload pingpong N         N pipe round trips between two processes (2N wakeups)
 *   bwload oom                touch memory until the memory cgroup's OOM killer kills it */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void xfer(int fd, char *buf, long n, int send)
{
	while (n > 0) {
		ssize_t r = send ? write(fd, buf, n) : read(fd, buf, n);
		if (r <= 0)
			die(send ? "write" : "read");
		n -= r;
	}
}

static void run_exec(long n, const char *path)
{
	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execl(path, "bwexec", "exit7", (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
			die("child did not exit 7");
	}
}

static void run_tcp(long n, long bytes, int port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
	char *buf = calloc(1, bytes + 1);

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (void *)&addr, sizeof(addr)) || listen(lfd, 16))
		die("listen");
	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0), s;
		if (c < 0 || connect(c, (void *)&addr, sizeof(addr)) || (s = accept(lfd, NULL, NULL)) < 0)
			die("connect");
		/* Both directions fit the socket buffers, so one process can play both ends. */
		xfer(c, buf, bytes, 1);
		shutdown(c, SHUT_WR);
		xfer(s, buf, bytes, 0);
		if (read(s, buf, 1) != 0)
			die("server: no EOF");
		xfer(s, buf, bytes, 1);
		close(s);
		xfer(c, buf, bytes, 0);
		if (read(c, buf, 1) != 0)
			die("client: no EOF");
		close(c);
	}
	close(lfd);
}

static void run_odirect(long n, const char *dev)
{
	void *buf;
	int fd = open(dev, O_WRONLY | O_DIRECT);

	if (fd < 0 || posix_memalign(&buf, 4096, 4096))
		die(dev);
	memset(buf, 0xab, 4096);
	for (long i = 0; i < n; i++)
		if (pwrite(fd, buf, 4096, i * 4096) != 4096)
			die("pwrite");
	close(fd);
}

static void run_pingpong(long n)
{
	int ab[2], ba[2];
	char c = 0;

	if (pipe(ab) || pipe(ba))
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		for (long i = 0; i < n; i++)
			xfer(ab[0], &c, 1, 0), xfer(ba[1], &c, 1, 1);
		_exit(0);
	}
	for (long i = 0; i < n; i++)
		xfer(ab[1], &c, 1, 1), xfer(ba[0], &c, 1, 0);
	waitpid(pid, NULL, 0);
}

static void run_oom(void)
{
	for (;;) {
		char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			die("mmap");
		memset(p, 1, 1 << 20);
	}
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "exit7"))
		return 7;
	if (!strcmp(cmd, "exec") && argc == 4)
		run_exec(atol(argv[2]), argv[3]);
	else if (!strcmp(cmd, "tcp") && argc == 5)
		run_tcp(atol(argv[2]), atol(argv[3]), atoi(argv[4]));
	else if (!strcmp(cmd, "odirect") && argc == 4)
		run_odirect(atol(argv[2]), argv[3]);
	else if (!strcmp(cmd, "pingpong") && argc == 3)
		run_pingpong(atol(argv[2]));
	else if (!strcmp(cmd, "oom"))
		run_oom();
	else {
		fprintf(stderr, "usage: bwload exec N PATH | exit7 | tcp N BYTES PORT | odirect N DEV | pingpong N | oom\n");
		return 2;
	}
	return 0;
}
