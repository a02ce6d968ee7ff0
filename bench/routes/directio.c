/* Block I/O with known counts for bench/routes/aggregates.sh: COUNT O_DIRECT writes of BLOCK
 * bytes to DEVICE, then COUNT O_DIRECT reads of them, each one request (BLOCK is far below
 * any virtio queue's request limit). usage: directio DEVICE BLOCK COUNT */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long block = argc > 2 ? atol(argv[2]) : 0, count = argc > 3 ? atol(argv[3]) : 0;
	void *buf;
	int fd;

	if (argc != 4 || block <= 0 || block % 4096 || count <= 0) {
		fprintf(stderr, "usage: directio DEVICE BLOCK(multiple of 4096) COUNT\n");
		return 1;
	}
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign(&buf, 4096, (size_t)block)) {
		perror("directio: open");
		return 1;
	}
	memset(buf, 0x5a, (size_t)block);
	for (long i = 0; i < count; i++)
		if (pwrite(fd, buf, (size_t)block, i * block) != block) {
			perror("directio: write");
			return 1;
		}
	for (long i = 0; i < count; i++)
		if (pread(fd, buf, (size_t)block, i * block) != block) {
			perror("directio: read");
			return 1;
		}
	return close(fd) ? 1 : 0;
}
