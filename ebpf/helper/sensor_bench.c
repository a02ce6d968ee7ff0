/* The benchmark sensor: a bench_syscall record per syscall of one process (ebpf/bench/). */
#include "sensors.h"
#include "bpfwasm_events.h"
#include "bench.skel.h"

SKELETON_ADAPTER(bench_bpf)

static const struct sensor_def bench_sensor = {
	.name = "bench",
	.programs = (const char *const[]){ "bench_sys_enter", NULL },
	.records = (const struct record_def[]){
		{ BPFWASM_RECORD_BENCH_SYSCALL, sizeof(struct bpfwasm_bench_syscall) },
		{ 0 },
	},
	.options = (const char *const[]){ "tgid", NULL },
	SKELETON_OPS(bench_bpf),
};

SENSOR_REGISTER(bench_sensor);
