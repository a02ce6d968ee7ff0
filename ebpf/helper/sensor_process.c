/* The process sensor: fork, exec and exit records (ebpf/process/). */
#include "sensors.h"
#include "bpfwasm_events.h"
#include "process.skel.h"

SKELETON_ADAPTER(process_bpf)

static const struct sensor_def process_sensor = {
	.name = "process",
	.programs = (const char *const[]){ "handle_fork", "handle_exec", "handle_exit", NULL },
	.options = (const char *const[]){ "max_args", NULL },
	.records = (const struct record_def[]){
		{ BPFWASM_RECORD_PROCESS_FORK, sizeof(struct bpfwasm_process_fork) },
		{ BPFWASM_RECORD_PROCESS_EXEC, sizeof(struct bpfwasm_process_exec) },
		{ BPFWASM_RECORD_PROCESS_EXIT, sizeof(struct bpfwasm_process_exit) },
		{ 0 },
	},
	/* 512 KiB holds ~860 processes' fork+exec+exit (exec is 456 bytes with its arguments),
	 * or ~7k thread forks: a 180 ms stall of the collector in a thread storm before a drop,
	 * each counted; 8× the default --wakeup-bytes. Kernel memory, and mapped twice into the
	 * helper, so it is most of the helper's RSS: raise it per sensor (sensors.process.ringBytes)
	 * where exec churn is heavier. */
	.ring_bytes = 512 * 1024,
	SKELETON_OPS(process_bpf),
};

SENSOR_REGISTER(process_sensor);
