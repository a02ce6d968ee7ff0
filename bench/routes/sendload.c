/* Per-call cost of the tcp sensor's send/receive hooks (bench/routes/cost.sh): one loopback
 * TCP connection, both ends in this process ("rt-send"); N times, write 1 byte on one end and
 * read it on the other. Prints "calls N ns_per_pair T" (one write plus one read).
 * Build: cc -O2 -static. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int calls = argc == 2 ? atoi(argv[1]) : 10000, one = 1, listener, client, server;
	struct timespec t0, t1;
	char byte = 'x';

	prctl(PR_SET_NAME, "rt-send");
	listener = socket(AF_INET, SOCK_STREAM, 0);
	client = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0 || client < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(listener, 1) || getsockname(listener, (struct sockaddr *)&addr, &len) ||
	    connect(client, (struct sockaddr *)&addr, sizeof(addr)))
		return perror("connect"), 1;
	server = accept(listener, NULL, NULL);
	if (server < 0)
		return perror("accept"), 1;
	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < calls; i++)
		if (write(client, &byte, 1) != 1 || read(server, &byte, 1) != 1)
			return perror("write/read"), 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("calls %d ns_per_pair %.0f\n", calls,
	       ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / calls);
	return 0;
}
