/* The runqlat sensor's helper hooks: the probes of its routes, which differ only in where a
 * task's enqueue time is kept (README "Routes"), and its configure hook. The rest of it is
 * declared in sensor.yaml. */
#include <errno.h>

#include "probe.h"
#include "runqlat.sensor.h"

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
