/*
 * Built-in exporter for the blockio sensor: block request latency as a histogram and bytes as a
 * counter, by disk name and operation. The kernel already aggregates per log2 latency slot, so
 * each record adds its count to one bucket and its latency to the sum: no per-request work here.
 */
#include "bpfwasm.h"

BPFWASM_STANDARD_EXPORTS

/* Bounds 2^10 ns (~1 µs) .. 2^34 ns (~17 s): from a fast NVMe hit to a stalled disk. */
#define SLOT_LO 10
#define SLOT_HI 34
#define NBOUNDS (SLOT_HI - SLOT_LO + 1)

static __s32 latency_seconds;
static __s32 bytes_total;
/* Keyed by (dev, op): one series of each metric per disk and operation. */
BPFWASM_CACHE(latency_ids, 256);
BPFWASM_CACHE(bytes_ids, 256);
BPFWASM_FORGET_CLEARS(&latency_ids, &bytes_ids)

/* Record `op` (ebpf/schema/events.yaml blockio_latency) to its label; index 0 is unused. */
static const char *const op_names[] = { "other", "read", "write", "flush", "discard", "other" };

BPFWASM_EXPORT(bpfwasm_init) __s32 bpfwasm_init(void)
{
	double bounds[NBOUNDS];

	bpfwasm_log2_seconds_buckets(bounds, SLOT_LO, SLOT_HI);
	latency_seconds = bpfwasm_declare(BPFWASM_HISTOGRAM, "bpfwasm_block_io_latency_seconds",
		"Block I/O request latency from issue to the driver until completion, by disk and operation",
		"device,operation", bounds, NBOUNDS);
	if (latency_seconds < 0)
		return latency_seconds;
	bytes_total = bpfwasm_declare(BPFWASM_COUNTER, "bpfwasm_block_io_bytes_total",
		"Bytes of completed block I/O requests, by disk and operation", "device,operation", 0, 0);
	if (bytes_total < 0)
		return bytes_total;
	return bpfwasm_subscribe(BPFWASM_RECORD_BLOCKIO_LATENCY);
}

/* Decimal digits of v into out; returns their number. */
static __u32 put_decimal(char *out, __u32 v)
{
	char digits[10];
	__u32 n = 0, len = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		out[len++] = digits[--n];
	return len;
}

/* The disk's name ("vda"), or "MAJ:MIN" when the host cannot name it (a disk gone since). */
static __u32 device_name(__u32 dev, char *out, __u32 cap)
{
	__s32 len = bpfwasm_resolve(BPFWASM_RESOLVE_BLOCK_DEVICE, dev, 0, out, cap);
	__u32 n;

	if (len > 0 && (__u32)len <= cap)
		return (__u32)len;
	n = put_decimal(out, dev >> 20);
	out[n++] = ':';
	return n + put_decimal(out + n, dev & 0xfffff);
}

/* The series of `metric` for (dev, op), interned and cached on first sight. */
static __s32 series_of(struct bpfwasm_cache *cache, __s32 metric, __u32 dev, __u32 op)
{
	__s32 id = bpfwasm_cache_get(cache, dev, op, 0);
	char device[64];
	const char *operation;
	__u32 dlen;

	if (id != BPFWASM_CACHE_MISS)
		return id;
	dlen = device_name(dev, device, sizeof(device));
	operation = op_names[op < 6 ? op : 0];
	id = bpfwasm_series2(metric, device, dlen, operation, bpfwasm_strnlen(operation, 8));
	bpfwasm_cache_set(cache, dev, op, 0, id);
	return id;
}

BPFWASM_EXPORT(bpfwasm_on_batch) __s32 bpfwasm_on_batch(__u32 type, const void *ptr, __u32 len, __u32 count)
{
	bpfwasm_batch_begin();
	if (type != BPFWASM_RECORD_BLOCKIO_LATENCY || len != count * BPFWASM_BLOCKIO_LATENCY_SIZE)
		return 1;
	const struct bpfwasm_blockio_latency *rec = ptr;
	for (__u32 i = 0; i < count; i++, rec++) {
		__s32 latency = series_of(&latency_ids, latency_seconds, rec->dev, rec->op);
		__s32 bytes = series_of(&bytes_ids, bytes_total, rec->dev, rec->op);

		bpfwasm_observe_bucket(latency, bpfwasm_slot_bucket(rec->slot, SLOT_LO, SLOT_HI), (double)rec->count);
		bpfwasm_add_sum(latency, (double)rec->sum_ns / 1e9);
		bpfwasm_counter_add(bytes, (double)rec->bytes);
	}
	bpfwasm_flush();
	return 0;
}
