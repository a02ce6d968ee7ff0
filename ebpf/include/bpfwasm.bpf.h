/* BPF-side helpers shared by every sensor: the `events` ring, the per-CPU `stats`
 * map, the common record header and the threshold-wakeup submit.
 * Include after vmlinux.h, the libbpf BPF headers and bpfwasm_events.h. */
#ifndef BPFWASM_BPF_H
#define BPFWASM_BPF_H

#include "bpfwasm_stats.h"

/* Set by the helper before load (--wakeup-bytes): wake the consumer only once this
 * much data waits, so a busy ring costs one wakeup per batch, not per event. */
const volatile __u32 wakeup_bytes = 65536;

/* Set by the helper before load (--poll-ms): a record on a CPU that submitted nothing for
 * this long wakes the consumer at once, so a lone event is not held until the poll timeout. */
const volatile __u64 quiet_ns = 5000000;

/* When each CPU last submitted a record: per CPU, so the write per record stays in that
 * CPU's cache instead of bouncing one shared line between CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_submit SEC(".maps");

/* When a record last asked for a quiet-spell wakeup, on any CPU. Written only then (at most
 * once per quiet_ns), so quiet CPUs together wake the consumer no more often than its poll. */
static __u64 quiet_wakeup_ns;

/* The helper sizes the ring with bpf_map__set_max_entries (--ring-bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BPFWASM_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void bpfwasm_count(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&stats, &slot);

	/* Per-CPU slot: no other writer on this CPU, a plain add is enough. */
	if (value)
		*value += 1;
}

/* Reserve a record of `size` bytes in `events`; NULL (counted) when the ring is full. */
static __always_inline void *bpfwasm_reserve(__u32 size)
{
	void *record = bpf_ringbuf_reserve(&events, size, 0);

	if (!record)
		bpfwasm_count(BPFWASM_STAT_RESERVE_FAILED);
	return record;
}

/* Fill the common header from the current task. */
static __always_inline void bpfwasm_fill_header(struct bpfwasm_event_header *hdr, __u16 type,
						__u16 size)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	hdr->type = type;
	hdr->size = size;
	hdr->cpu = bpf_get_smp_processor_id();
	hdr->timestamp_ns = bpf_ktime_get_ns();
	hdr->pid = (__u32)pid_tgid;
	hdr->tgid = pid_tgid >> 32;
	hdr->cgroup_id = bpf_get_current_cgroup_id();
	/* Zero-pads the rest of comm, so no stale ring bytes leak into the record. */
	bpf_get_current_comm(hdr->comm, sizeof(hdr->comm));
}

/* Whether the record stamped `now` follows a quiet spell: its CPU submitted nothing for
 * quiet_ns, and no other CPU asked for such a wakeup within quiet_ns. Stamps this CPU. */
static __always_inline bool bpfwasm_after_quiet_spell(__u64 now)
{
	__u32 zero = 0;
	__u64 *last = bpf_map_lookup_elem(&last_submit, &zero);
	bool quiet;

	if (!last)
		return false;
	/* Signed: another CPU may have stamped quiet_wakeup_ns a little after `now`. */
	quiet = now - *last >= quiet_ns && (__s64)(now - quiet_wakeup_ns) >= (__s64)quiet_ns;
	*last = now;
	if (quiet)
		quiet_wakeup_ns = now;
	return quiet;
}

/* Submit without waking the consumer until `wakeup_bytes` are waiting; the helper's
 * poll timeout (--poll-ms) picks up anything below the threshold. Only the record that
 * crosses a multiple of the threshold wakes it: forcing a wakeup on every record while
 * the consumer is still on its way queues an irq_work per record on the producer's CPU
 * (a lost crossing between CPUs is retried at the next multiple, or by the timeout).
 * A record after a quiet spell wakes it too, if it has read everything before (flags 0:
 * the kernel's own check), so a lone event reaches user space at once; under a stream
 * records follow each other closely and only the threshold and the poll wake it. */
static __always_inline void bpfwasm_submit(void *record)
{
	/* Every record starts with the header: this record's (reserved) size, and its time. */
	struct bpfwasm_event_header *hdr = record;
	__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 before = waiting - hdr->size;
	__u32 threshold = wakeup_bytes;
	bool wake = !threshold || (waiting >= threshold && before / threshold != waiting / threshold);
	bool quiet = bpfwasm_after_quiet_spell(hdr->timestamp_ns);

	bpf_ringbuf_submit(record, wake ? BPF_RB_FORCE_WAKEUP : quiet ? 0 : BPF_RB_NO_WAKEUP);
	bpfwasm_count(BPFWASM_STAT_SUBMITTED);
}

/* Count a failed insert into a tracking or aggregation map (a full table): data the
 * sensor could not keep is counted, never lost silently. */
static __always_inline void bpfwasm_count_map_full(void)
{
	bpfwasm_count(BPFWASM_STAT_MAP_FULL);
}

/* The value for `key` in an aggregation map (PROTOCOL.md "Aggregate records"), inserted
 * zeroed when missing; NULL (counted) when the map is full. */
static __always_inline void *bpfwasm_aggregate(void *map, const void *key, const void *zero)
{
	void *value = bpf_map_lookup_elem(map, key);
	long err;

	if (value)
		return value;
	err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: another CPU inserted it first */) {
		bpfwasm_count_map_full();
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}

/* log2 latency slot of `ns`: slot s holds (2^(s-1), 2^s] ns, slot 0 holds 0 and 1, so
 * a Prometheus bucket with bound 2^s ns takes exactly the slots up to s. */
static __always_inline __u32 bpfwasm_log2_slot(__u64 ns)
{
	__u32 slot = 0;

	if (ns <= 1)
		return 0;
	ns -= 1; /* ceil(log2(ns)) = bit length of ns - 1 */
#pragma unroll
	for (int shift = 32; shift > 0; shift >>= 1) {
		if (ns >> shift) {
			ns >>= shift;
			slot += shift;
		}
	}
	return slot + 1;
}

#endif /* BPFWASM_BPF_H */
