// SPDX-License-Identifier: GPL-2.0
/* Block I/O sensor: latency of every block request from issue to the driver until its
 * completion, aggregated in the kernel by disk, operation and log2 latency slot. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfwasm_events.h"
#include "bpfwasm.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* tp_btf arguments are BTF pointers: plain loads through them need no probe-read helper
 * calls, and vmlinux.h's preserve_access_index makes each one a CO-RE relocation. */

/* include/linux/blk_types.h: the operation is the low REQ_OP_BITS (8) of cmd_flags; a
 * macro, so vmlinux.h does not carry it. */
#define BLOCKIO_REQ_OP_MASK ((1u << 8) - 1)

/* Record `op` values (ebpf/schema/events.yaml blockio_latency). */
enum blockio_op {
	BLOCKIO_OP_READ = 1,
	BLOCKIO_OP_WRITE = 2,
	BLOCKIO_OP_FLUSH = 3,
	BLOCKIO_OP_DISCARD = 4,
	BLOCKIO_OP_OTHER = 5,
};

/* Before 5.15 the disk hung off the request itself (CO-RE picks the layout at load). */
struct request___rq_disk {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

/* A request between issue and completion. */
struct blockio_start {
	__u64 issue_ns;
	__u64 bytes; /* size at issue: partial completions shrink __data_len afterwards */
};

/* Keyed by the request's address: the kernel reuses a request only after completing it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct blockio_start);
} starts SEC(".maps");

/* The blockio_latency key and counters (PROTOCOL.md "Aggregate records"). */
struct blockio_key {
	__u32 dev;
	__u32 op;
	__u32 slot;
	__u32 _pad;
};

struct blockio_value {
	__u64 count;
	__u64 sum_ns;
	__u64 bytes;
};

_Static_assert(BPFWASM_EVENT_HEADER_SIZE + sizeof(struct blockio_key) + sizeof(struct blockio_value) ==
		       sizeof(struct bpfwasm_blockio_latency),
	       "latency map layout must match the blockio_latency record");

/* Disks x 5 operations x ~25 plausible slots; a full map is counted, not silent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct blockio_key);
	__type(value, struct blockio_value);
} latency SEC(".maps");

static __always_inline __u32 blockio_op(__u32 cmd_flags)
{
	switch (cmd_flags & BLOCKIO_REQ_OP_MASK) {
	case REQ_OP_READ:
		return BLOCKIO_OP_READ;
	case REQ_OP_WRITE:
		return BLOCKIO_OP_WRITE;
	case REQ_OP_FLUSH:
		return BLOCKIO_OP_FLUSH;
	case REQ_OP_DISCARD:
		return BLOCKIO_OP_DISCARD;
	default:
		return BLOCKIO_OP_OTHER;
	}
}

/* The whole disk's dev_t (major << 20 | minor), never a partition's: the queue belongs to
 * the disk; 0 for a request without one (a driver's passthrough queue). */
static __always_inline __u32 blockio_dev(struct request *rq)
{
	struct gendisk *disk;

	if (bpf_core_field_exists(struct request_queue, disk))
		disk = rq->q->disk;
	else
		disk = ((struct request___rq_disk *)rq)->rq_disk;
	if (!disk)
		return 0;
	/* Before 5.11 part0 was an embedded struct hd_struct, not a pointer to the block_device
	 * (which 5.11 gave the partition's start, bd_start_sect); its dev_t is the disk's major
	 * and first minor (add_disk sets both). Asked of block_device, which every kernel has: a
	 * relocation against a type vmlinux lacks makes libbpf search the modules' BTF, which
	 * needs CAP_SYS_ADMIN. */
	if (!bpf_core_field_exists(struct block_device, bd_start_sect))
		return (__u32)disk->major << 20 | (__u32)disk->first_minor;
	return disk->part0->bd_dev;
}

/* Start the clock of request `key` of `bytes`. BPF_ANY: a requeued request issued again
 * restarts its clock. */
static __always_inline void on_issue(__u64 key, __u64 bytes)
{
	struct blockio_start start = {
		.issue_ns = bpf_ktime_get_ns(),
		.bytes = bytes,
	};

	if (bpf_map_update_elem(&starts, &key, &start, BPF_ANY))
		bpfwasm_count_map_full();
}

/* Count the completion of `start` on disk `dev` for operation `op`. */
static __always_inline void on_complete(__u64 key, struct blockio_start *start, __u32 dev, __u32 op)
{
	static const struct blockio_value zero;
	struct blockio_value *value;
	struct blockio_key agg = {};
	__u64 now, ns;

	now = bpf_ktime_get_ns();
	ns = now > start->issue_ns ? now - start->issue_ns : 0;
	agg.dev = dev;
	agg.op = op;
	agg.slot = bpfwasm_log2_slot(ns);
	value = bpfwasm_aggregate(&latency, &agg, &zero);
	if (value) {
		/* Per-CPU value: no other writer on this CPU. */
		value->count += 1;
		value->sum_ns += ns;
		value->bytes += start->bytes;
	}
	bpf_map_delete_elem(&starts, &key);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(blk_rq_issue, struct request *rq)
{
	on_issue((__u64)rq, rq->__data_len);
	return 0;
}

/* Back to the queue before completion: the next issue starts over; if the request is
 * freed instead, its entry must not linger until the address is reused. */
SEC("tp_btf/block_rq_requeue")
int BPF_PROG(blk_rq_requeue, struct request *rq)
{
	__u64 key = (__u64)rq;

	bpf_map_delete_elem(&starts, &key);
	return 0;
}

/* Fires from blk_update_request before __data_len is reduced, so a partial completion
 * (nr_bytes < remaining) is recognised and the request is measured at its last one. */
SEC("tp_btf/block_rq_complete")
int BPF_PROG(blk_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct blockio_start *start;

	if (nr_bytes < rq->__data_len)
		return 0;
	/* Issued before the sensor attached: its latency is unknown, so it is not counted. */
	start = bpf_map_lookup_elem(&starts, &key);
	if (start)
		on_complete(key, start, blockio_dev(rq), blockio_op(rq->cmd_flags));
	return 0;
}

/* Route raw_tp: the same three tracepoints where tp_btf cannot take them as written above
 * (before 5.11 block_rq_issue and block_rq_requeue passed the queue first). Arguments are
 * untyped, so the request is read with CO-RE probe reads. Set by the helper from BTF: */
const volatile __u32 issue_rq_arg = 0; /* index of the request in block_rq_issue/requeue: 0 or 1 */

/* The whole disk's dev_t from its major and first minor: the same number as part0's bd_dev
 * (add_disk sets both), without part0, a struct before 5.11 and a pointer since. */
static __always_inline __u32 blockio_dev_read(struct request *rq)
{
	struct gendisk *disk;

	if (bpf_core_field_exists(struct request_queue, disk))
		disk = BPF_CORE_READ(rq, q, disk);
	else
		disk = BPF_CORE_READ((struct request___rq_disk *)rq, rq_disk);
	if (!disk)
		return 0;
	return (__u32)BPF_CORE_READ(disk, major) << 20 | (__u32)BPF_CORE_READ(disk, first_minor);
}

/* The request argument of block_rq_issue/requeue. Only the kernel's argument is read: a
 * raw_tp program that reads past the tracepoint's arguments cannot attach. */
static __always_inline struct request *issue_rq(unsigned long long *ctx)
{
	struct request *rq;

	if (issue_rq_arg) {
		rq = (struct request *)ctx[1];
		/* Keeps clang from merging the two loads into one at ctx + 8 * index, a
		 * variable context offset the verifier refuses. */
		barrier_var(rq);
	} else {
		rq = (struct request *)ctx[0];
	}
	return rq;
}

SEC("raw_tp/block_rq_issue")
int BPF_PROG(blk_rq_issue_raw)
{
	struct request *rq = issue_rq(ctx);

	on_issue((__u64)rq, BPF_CORE_READ(rq, __data_len));
	return 0;
}

SEC("raw_tp/block_rq_requeue")
int BPF_PROG(blk_rq_requeue_raw)
{
	__u64 key = (__u64)issue_rq(ctx);

	bpf_map_delete_elem(&starts, &key);
	return 0;
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(blk_rq_complete_raw, struct request *rq, int error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct blockio_start *start;

	if (nr_bytes < BPF_CORE_READ(rq, __data_len))
		return 0;
	/* Issued before the sensor attached: its latency is unknown, so it is not counted. */
	start = bpf_map_lookup_elem(&starts, &key);
	if (start)
		on_complete(key, start, blockio_dev_read(rq),
			    blockio_op(BPF_CORE_READ(rq, cmd_flags)));
	return 0;
}
