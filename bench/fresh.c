// The exec'd program of the freshness benchmark (bench/freshness.mjs): prints CLOCK_MONOTONIC in
// ns as its first act, the clock of the kernel's event timestamps and of Node's hrtime, so the
// bench knows when the exec happened to within the program's start-up (static: no loader).
#include <stdio.h>
#include <time.h>

int main(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	printf("%lld\n", ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return 0;
}
