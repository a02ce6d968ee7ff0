/* Syscalls with known counts for bench/routes/aggregates.sh: COUNT getppid calls and COUNT
 * close(-1) calls, each failing with EBADF. usage: sysload COUNT */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	long count = argc > 1 ? atol(argv[1]) : 0;

	if (count <= 0) {
		fprintf(stderr, "usage: sysload COUNT\n");
		return 1;
	}
	/* Raw syscalls: libc must neither cache getppid nor skip a close of -1. */
	for (long i = 0; i < count; i++) {
		syscall(SYS_getppid);
		syscall(SYS_close, -1);
	}
	return 0;
}
