/* Loopback TCP load with known counts, for checking the tcp sensor's routes on other kernels
 * (bench/routes/run.sh): N connections one after another from a client (comm "rt-cli") to a
 * server (comm "rt-srv"). Each client sends SEND bytes and shuts down its side; the server
 * reads to EOF, answers REPLY bytes and closes; the client reads to EOF and closes.
 * Prints "conns N send SEND reply REPLY ns_per_conn T". Build: cc -O2 -static. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void write_all(int fd, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n < sizeof(buf) ? n : sizeof(buf));

		if (w <= 0)
			die("write");
		n -= (size_t)w;
	}
}

static size_t read_to_eof(int fd)
{
	size_t total = 0;
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)r;
	if (r < 0)
		die("read");
	return total;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	struct timespec t0, t1;
	int conns, listener, status;
	size_t send_bytes, reply_bytes;
	pid_t server;

	if (argc != 4)
		return fprintf(stderr, "usage: tcpload CONNS SEND_BYTES REPLY_BYTES\n"), 2;
	conns = atoi(argv[1]);
	send_bytes = strtoul(argv[2], NULL, 10);
	reply_bytes = strtoul(argv[3], NULL, 10);
	memset(buf, 'x', sizeof(buf));
	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(listener, 128) || getsockname(listener, (struct sockaddr *)&addr, &len))
		die("listen");
	server = fork();
	if (server < 0)
		die("fork");
	if (!server) {
		prctl(PR_SET_NAME, "rt-srv");
		for (int i = 0; i < conns; i++) {
			int fd = accept(listener, NULL, NULL);

			if (fd < 0)
				die("accept");
			if (read_to_eof(fd) != send_bytes)
				die("short read on the server");
			write_all(fd, reply_bytes);
			close(fd);
		}
		return 0;
	}
	close(listener);
	prctl(PR_SET_NAME, "rt-cli");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < conns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
			die("connect");
		write_all(fd, send_bytes);
		shutdown(fd, SHUT_WR);
		if (read_to_eof(fd) != reply_bytes)
			die("short read on the client");
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (waitpid(server, &status, 0) != server || !WIFEXITED(status) || WEXITSTATUS(status))
		die("server");
	printf("conns %d send %zu reply %zu ns_per_conn %.0f\n", conns, send_bytes, reply_bytes,
	       ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / conns);
	return 0;
}
