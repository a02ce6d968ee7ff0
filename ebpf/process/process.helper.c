/* The process sensor's helper side: fork, exec and exit records (ebpf/process/). All of it is
 * declared in sensor.yaml; it needs no hooks. */
#include "process.sensor.h"
