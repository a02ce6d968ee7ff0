/* Touches MB MiB of anonymous memory, one page at a time, as "rt-oom": run inside a memory
 * cgroup whose memory.max is below that, it is the OOM killer's victim (bench/routes/run.sh).
 * Exits 0 only if it survived. Build: cc -O2 -static. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>

int main(int argc, char **argv)
{
	size_t bytes = (argc == 2 ? strtoul(argv[1], NULL, 10) : 64) << 20;
	char *p;

	prctl(PR_SET_NAME, "rt-oom");
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return perror("mmap"), 1;
	for (size_t i = 0; i < bytes; i += 4096)
		p[i] = 1;
	return 0;
}
