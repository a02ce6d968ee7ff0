/* The blockio sensor: block request latency by disk and operation, aggregated in the
 * kernel (ebpf/blockio/). */
#include "sensors.h"
#include "bpfwasm_events.h"
#include "blockio.skel.h"

SKELETON_ADAPTER(blockio_bpf)

static const struct sensor_def blockio_sensor = {
	.name = "blockio",
	.programs = (const char *const[]){ "blk_rq_issue", "blk_rq_complete", "blk_rq_requeue", NULL },
	.records = (const struct record_def[]){
		{ BPFWASM_RECORD_BLOCKIO_LATENCY, sizeof(struct bpfwasm_blockio_latency) },
		{ 0 },
	},
	.aggregates = (const struct aggregate_def[]){
		{ "latency", BPFWASM_RECORD_BLOCKIO_LATENCY, sizeof(struct bpfwasm_blockio_latency) },
		{ 0 },
	},
	/* Aggregate-only: the events ring stays empty. */
	.ring_bytes = 4096,
	SKELETON_OPS(blockio_bpf),
};

SENSOR_REGISTER(blockio_sensor);
