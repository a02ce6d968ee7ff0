/* The runqlat sensor: run-queue latency aggregated in the kernel (ebpf/runqlat/). Its routes
 * differ only in where a task's enqueue time is kept (README "Routes"). */
#include <errno.h>

#include "sensors.h"
#include "bpfwasm_events.h"
#include "probe.h"
#include "runqlat.skel.h"

SKELETON_ADAPTER(runqlat_bpf)

static int task_storage_available(const char **why)
{
	*why = "no BPF_MAP_TYPE_TASK_STORAGE in this kernel";
	return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 1 ? 0 : -ENOENT;
}

static int pid_hash_available(const char **why)
{
	*why = "no sched_wakeup/sched_switch tracepoints with task arguments in the kernel BTF";
	return probe_tracepoint_arg_struct("sched_wakeup", 0, "task_struct") ? -ENOENT
	       : probe_tracepoint_arg_struct("sched_switch", 2, "task_struct");
}

/* Only the chosen route's stamp map is created (task storage fails on kernels without it);
 * sched_switch's prev_state is read only where the kernel's BTF has it. */
static int runqlat_configure(void *skel)
{
	struct runqlat_bpf *s = skel;
	bool task_storage = bpf_program__autoload(s->progs.handle_switch);
	int err = bpf_map__set_autocreate(s->maps.enqueued_at, task_storage);

	err = err ? err : bpf_map__set_autocreate(s->maps.enqueued_pid, !task_storage);
	s->rodata->switch_has_prev_state = probe_tracepoint_args("sched_switch") >= 4;
	return err;
}

static const struct sensor_def runqlat_sensor = {
	.name = "runqlat",
	.programs = (const char *const[]){ "handle_wakeup", "handle_wakeup_new", "handle_switch",
					   "handle_wakeup_pid", "handle_wakeup_new_pid",
					   "handle_switch_pid", NULL },
	.records = (const struct record_def[]){
		{ BPFWASM_RECORD_RUNQLAT, sizeof(struct bpfwasm_runqlat) },
		{ 0 },
	},
	.aggregates = (const struct aggregate_def[]){
		{ "runqlat_hist", BPFWASM_RECORD_RUNQLAT, sizeof(struct bpfwasm_runqlat) },
		{ 0 },
	},
	.options = (const char *const[]){ "per_cgroup", NULL },
	.ring_bytes = 4096, /* aggregate-only: the events ring stays empty */
	.routes = (const struct route_def[]){
		{ "task_storage",
		  (const char *const[]){ "handle_wakeup", "handle_wakeup_new", "handle_switch", NULL },
		  task_storage_available },
		{ "pid_hash",
		  (const char *const[]){ "handle_wakeup_pid", "handle_wakeup_new_pid",
					 "handle_switch_pid", NULL },
		  pid_hash_available },
		{ 0 },
	},
	.configure = runqlat_configure,
	SKELETON_OPS(runqlat_bpf),
};

SENSOR_REGISTER(runqlat_sensor);
