/* The benchmark sensor's helper side: a bench_syscall record per syscall of one process
 * (ebpf/bench/). All of it is declared in sensor.yaml; it needs no hooks. */
#include "bench.sensor.h"
