/* The runqlat sensor: run-queue latency aggregated in the kernel (ebpf/runqlat/). */
#include "sensors.h"
#include "bpfwasm_events.h"
#include "runqlat.skel.h"

SKELETON_ADAPTER(runqlat_bpf)

static const struct sensor_def runqlat_sensor = {
	.name = "runqlat",
	.programs = (const char *const[]){ "handle_wakeup", "handle_wakeup_new", "handle_switch", NULL },
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
	SKELETON_OPS(runqlat_bpf),
};

SENSOR_REGISTER(runqlat_sensor);
