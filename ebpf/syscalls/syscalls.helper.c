/* The syscalls sensor's helper side: per-syscall latency and error aggregates
 * (ebpf/syscalls/). All of it is declared in sensor.yaml; it needs no hooks. */
#include "syscalls.sensor.h"
