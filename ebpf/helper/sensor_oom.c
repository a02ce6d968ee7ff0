/* The OOM sensor: one oom_kill record per task the OOM killer marks as its victim (ebpf/oom/). */
#include "sensors.h"
#include "bpfwasm_events.h"
#include "oom.skel.h"

SKELETON_ADAPTER(oom_bpf)

static const struct sensor_def oom_sensor = {
	.name = "oom",
	.programs = (const char *const[]){ "oom_victim", NULL },
	.records = (const struct record_def[]){
		{ BPFWASM_RECORD_OOM_KILL, sizeof(struct bpfwasm_oom_kill) },
		{ 0 },
	},
	/* Kills are rare: a small ring, still above the default --wakeup-bytes (64 KiB)
	 * and holding a memory.oom.group kill of ~2000 tasks. */
	.ring_bytes = 256 * 1024,
	SKELETON_OPS(oom_bpf),
};

SENSOR_REGISTER(oom_sensor);
