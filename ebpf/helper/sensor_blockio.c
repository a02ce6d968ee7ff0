/* The blockio sensor: block request latency by disk and operation, aggregated in the
 * kernel (ebpf/blockio/). Its routes differ only in how the tracepoints' request argument
 * is taken (README "Routes"). */
#include <errno.h>

#include "sensors.h"
#include "bpfwasm_events.h"
#include "probe.h"
#include "blockio.skel.h"

SKELETON_ADAPTER(blockio_bpf)

/* tp_btf as blockio.bpf.c writes it: the request is the first argument of all three. */
static int tp_btf_available(const char **why)
{
	*why = "block_rq_issue/requeue/complete do not take the request alone first in the "
	       "kernel BTF";
	if (probe_tracepoint_args("block_rq_issue") != 1 || probe_tracepoint_args("block_rq_requeue") != 1)
		return -ENOENT;
	return probe_tracepoint_arg_struct("block_rq_issue", 0, "request") ||
			       probe_tracepoint_arg_struct("block_rq_requeue", 0, "request") ||
			       probe_tracepoint_arg_struct("block_rq_complete", 0, "request")
		       ? -ENOENT : 0;
}

/* The request where BTF places it: first, or second after the queue (before 5.11). */
static int issue_rq_arg(void)
{
	if (!probe_tracepoint_arg_struct("block_rq_issue", 0, "request") &&
	    !probe_tracepoint_arg_struct("block_rq_requeue", 0, "request"))
		return 0;
	if (!probe_tracepoint_arg_struct("block_rq_issue", 1, "request") &&
	    !probe_tracepoint_arg_struct("block_rq_requeue", 1, "request"))
		return 1;
	return -ENOENT;
}

static int raw_tp_available(const char **why)
{
	*why = "no request argument in the kernel's block_rq_issue/requeue/complete BTF";
	return issue_rq_arg() < 0 || probe_tracepoint_arg_struct("block_rq_complete", 0, "request")
		       ? -ENOENT : 0;
}

static int blockio_configure(void *skel)
{
	int arg = issue_rq_arg();

	((struct blockio_bpf *)skel)->rodata->issue_rq_arg = arg > 0 ? (__u32)arg : 0;
	return 0;
}

static const struct sensor_def blockio_sensor = {
	.name = "blockio",
	.programs = (const char *const[]){ "blk_rq_issue", "blk_rq_complete", "blk_rq_requeue",
					   "blk_rq_issue_raw", "blk_rq_complete_raw",
					   "blk_rq_requeue_raw", NULL },
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
	.routes = (const struct route_def[]){
		{ "tp_btf",
		  (const char *const[]){ "blk_rq_issue", "blk_rq_complete", "blk_rq_requeue", NULL },
		  tp_btf_available },
		{ "raw_tp",
		  (const char *const[]){ "blk_rq_issue_raw", "blk_rq_complete_raw",
					 "blk_rq_requeue_raw", NULL },
		  raw_tp_available },
		{ 0 },
	},
	.configure = blockio_configure,
	SKELETON_OPS(blockio_bpf),
};

SENSOR_REGISTER(blockio_sensor);
