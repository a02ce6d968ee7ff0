/* The syscalls sensor: per-syscall latency and error aggregates (ebpf/syscalls/). */
#include "sensors.h"
#include "bpfwasm_events.h"
#include "syscalls.skel.h"

SKELETON_ADAPTER(syscalls_bpf)

static const struct sensor_def syscalls_sensor = {
	.name = "syscalls",
	.programs = (const char *const[]){ "sys_enter", "sys_exit", "thread_exit", "exec_moved", NULL },
	.records = (const struct record_def[]){
		{ BPFWASM_RECORD_SYSCALL_LATENCY, sizeof(struct bpfwasm_syscall_latency) },
		{ BPFWASM_RECORD_SYSCALL_ERROR, sizeof(struct bpfwasm_syscall_error) },
		{ 0 },
	},
	.aggregates = (const struct aggregate_def[]){
		{ "syscall_latency", BPFWASM_RECORD_SYSCALL_LATENCY, sizeof(struct bpfwasm_syscall_latency) },
		{ "syscall_error", BPFWASM_RECORD_SYSCALL_ERROR, sizeof(struct bpfwasm_syscall_error) },
		{ 0 },
	},
	.options = (const char *const[]){ "filter_tgid", "filter_comm", "filter_cgroup", "filter_cgroup_level", NULL },
	/* Aggregates only: the events ring stays empty. */
	.ring_bytes = 4096,
	SKELETON_OPS(syscalls_bpf),
};

SENSOR_REGISTER(syscalls_sensor);
