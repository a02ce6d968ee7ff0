/* The OOM sensor: one oom_kill record per task the OOM killer marks as its victim (ebpf/oom/).
 * Its routes differ only in the hook that sees the victim (README "Routes"). */
#include <errno.h>

#include "sensors.h"
#include "bpfwasm_events.h"
#include "probe.h"
#include "oom.skel.h"

SKELETON_ADAPTER(oom_bpf)

/* Kernels before the mark_victim tracepoint took the task (it passed a pid) cannot use it. */
static int tp_btf_available(const char **why)
{
	*why = "the kernel's mark_victim tracepoint has no task_struct argument";
	return probe_tracepoint_arg_struct("mark_victim", 0, "task_struct");
}

static int fentry_available(const char **why)
{
	*why = "fentry on mark_oom_victim cannot be attached";
	return probe_fentry("mark_oom_victim");
}

static int kprobe_available(const char **why)
{
	*why = "no kprobe on mark_oom_victim";
	return probe_kprobe("mark_oom_victim");
}

static const struct sensor_def oom_sensor = {
	.name = "oom",
	.programs = (const char *const[]){ "oom_victim", "oom_victim_fentry", "oom_victim_kprobe",
					   NULL },
	.records = (const struct record_def[]){
		{ BPFWASM_RECORD_OOM_KILL, sizeof(struct bpfwasm_oom_kill) },
		{ 0 },
	},
	/* Kills are rare: a small ring, still above the default --wakeup-bytes (64 KiB)
	 * and holding a memory.oom.group kill of ~2000 tasks. */
	.ring_bytes = 256 * 1024,
	.routes = (const struct route_def[]){
		{ "tp_btf", (const char *const[]){ "oom_victim", NULL }, tp_btf_available },
		{ "fentry", (const char *const[]){ "oom_victim_fentry", NULL }, fentry_available },
		{ "kprobe", (const char *const[]){ "oom_victim_kprobe", NULL }, kprobe_available },
		{ 0 },
	},
	SKELETON_OPS(oom_bpf),
};

SENSOR_REGISTER(oom_sensor);
