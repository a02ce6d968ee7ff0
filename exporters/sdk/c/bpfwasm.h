/*
 * bpfwasm exporter SDK for C (ABI v1, see exporters/ABI.md). Freestanding: no libc, no WASI.
 * Build: clang --target=wasm32 -O2 -nostdlib -ffreestanding -mbulk-memory
 *              -Wl,--no-entry -I exporters/sdk/c -o x.wasm x.c
 * Header-only for one translation unit per exporter; write BPFWASM_STANDARD_EXPORTS once.
 */
#ifndef BPFWASM_H
#define BPFWASM_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;
typedef long long __s64;

#include "bpfwasm_events.h"
/* BPFWASM_ABI_VERSION, error codes, kinds, ops, resolve kinds, log levels (ebpf/schema/abi.yaml). */
#include "bpfwasm_abi.h"

#define BPFWASM_EXPORT(name) __attribute__((export_name(#name)))
#define BPFWASM_IMPORT(name) __attribute__((import_module("bpfwasm"), import_name(#name)))

/* ---- host imports ---- */

BPFWASM_IMPORT(metric) __s32 bpfwasm_metric(__s32 kind, const char *name, __u32 name_len, const char *help,
	__u32 help_len, const char *labels, __u32 labels_len, const double *buckets, __u32 buckets_count);
BPFWASM_IMPORT(subscribe) __s32 bpfwasm_subscribe(__u32 record_type);
struct bpfwasm_label_value { __u32 ptr; __u32 len; };
BPFWASM_IMPORT(series) __s32 bpfwasm_series(__s32 metric, const struct bpfwasm_label_value *values, __u32 count);
struct bpfwasm_op { __u32 series; __u32 op; double value; };
BPFWASM_IMPORT(update) __s32 bpfwasm_update(const struct bpfwasm_op *ops, __u32 count);
BPFWASM_IMPORT(log) void bpfwasm_log(__s32 level, const char *msg, __u32 len);
/* Name for an id (BPFWASM_RESOLVE_*; lo/hi: the id's 32-bit halves) into out: its full length, or
 * BPFWASM_ENOTFOUND. Cold path: call it when creating a series, never per event. */
BPFWASM_IMPORT(resolve) __s32 bpfwasm_resolve(__s32 kind, __u32 lo, __u32 hi, char *out, __u32 cap);
/* This exporter's setting `key` into out: its full length, or BPFWASM_ENOTFOUND if unset. */
BPFWASM_IMPORT(config) __s32 bpfwasm_config(const char *key, __u32 key_len, char *out, __u32 cap);

/* ---- small freestanding helpers ---- */

static inline __u32 bpfwasm_strnlen(const char *s, __u32 max)
{
	__u32 n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

/* For string literals: passes "text", length as two arguments. */
#define BPFWASM_STR(s) (s), (__u32)(sizeof(s) - 1)

static inline void bpfwasm_log_str(__s32 level, const char *msg)
{
	bpfwasm_log(level, msg, bpfwasm_strnlen(msg, 4096));
}

/* Declares a metric; labels are names joined by ",". Use only in bpfwasm_init; < 0 is an error. */
static inline __s32 bpfwasm_declare(__s32 kind, const char *name, const char *help, const char *labels,
	const double *buckets, __u32 buckets_count)
{
	return bpfwasm_metric(kind, name, bpfwasm_strnlen(name, 256), help, bpfwasm_strnlen(help, 1024),
		labels, bpfwasm_strnlen(labels, 1024), buckets, buckets_count);
}

/* Series of a metric with one or two label values given by pointer and length. */
static inline __s32 bpfwasm_series1(__s32 metric, const char *v0, __u32 l0)
{
	struct bpfwasm_label_value v[1] = { { (__u32)v0, l0 } };
	return bpfwasm_series(metric, v, 1);
}

static inline __s32 bpfwasm_series2(__s32 metric, const char *v0, __u32 l0, const char *v1, __u32 l1)
{
	struct bpfwasm_label_value v[2] = { { (__u32)v0, l0 }, { (__u32)v1, l1 } };
	return bpfwasm_series(metric, v, 2);
}

/* ---- buffered updates: one bpfwasm_update call per batch ---- */

#ifndef BPFWASM_OPS_CAPACITY
#define BPFWASM_OPS_CAPACITY 512
#endif

static struct bpfwasm_op bpfwasm_ops[BPFWASM_OPS_CAPACITY];
static __u32 bpfwasm_ops_count;

/* Sends buffered updates; call at the end of every batch. Returns the number the host rejected. */
static inline __s32 bpfwasm_flush(void)
{
	__s32 rejected = 0;
	if (bpfwasm_ops_count)
		rejected = bpfwasm_update(bpfwasm_ops, bpfwasm_ops_count);
	bpfwasm_ops_count = 0;
	return rejected;
}

/* Drops operations still queued from a batch that trapped before its flush, so they never land
 * with the next batch: call it first in every bpfwasm_on_batch. */
static inline void bpfwasm_batch_begin(void)
{
	bpfwasm_ops_count = 0;
}

/* Queues one operation; a negative series (refused by the host, already counted there) is skipped. */
static inline void bpfwasm_push(__s32 series, __u32 op, double value)
{
	if (series < 0)
		return;
	bpfwasm_ops[bpfwasm_ops_count] = (struct bpfwasm_op){ (__u32)series, op, value };
	if (++bpfwasm_ops_count == BPFWASM_OPS_CAPACITY)
		bpfwasm_flush();
}

static inline void bpfwasm_counter_add(__s32 series, double v) { bpfwasm_push(series, BPFWASM_OP_ADD, v); }
static inline void bpfwasm_gauge_add(__s32 series, double v) { bpfwasm_push(series, BPFWASM_OP_ADD, v); }
static inline void bpfwasm_gauge_set(__s32 series, double v) { bpfwasm_push(series, BPFWASM_OP_SET, v); }
static inline void bpfwasm_observe(__s32 series, double v) { bpfwasm_push(series, BPFWASM_OP_OBSERVE, v); }
/* Adds `count` observations to bucket `index` (number of bounds = +Inf) without touching the sum. */
static inline void bpfwasm_observe_bucket(__s32 series, __u32 index, double count)
{
	bpfwasm_push(series, BPFWASM_OP_BUCKET_ADD | (index << 8), count);
}
/* Adds to a histogram's sum (the other half of bpfwasm_observe_bucket). */
static inline void bpfwasm_add_sum(__s32 series, double v) { bpfwasm_push(series, BPFWASM_OP_SUM_ADD, v); }

/* Bounds 2^lo .. 2^hi ns in seconds into out (hi - lo + 1 of them): buckets that take the kernel's
 * log2 latency slots exactly (slot s holds (2^(s-1), 2^s] ns). Returns the count. */
static inline __u32 bpfwasm_log2_seconds_buckets(double *out, __u32 lo, __u32 hi)
{
	for (__u32 s = lo; s <= hi; s++)
		out[s - lo] = (double)(1ull << s) / 1e9;
	return hi - lo + 1;
}

/* Bucket index of log2 slot `slot` among those bounds (hi - lo + 1 is +Inf). */
static inline __u32 bpfwasm_slot_bucket(__u32 slot, __u32 lo, __u32 hi)
{
	return slot <= lo ? 0 : slot > hi ? hi - lo + 1 : slot - lo;
}

/* bpfwasm_resolve for a 64-bit id. */
static inline __s32 bpfwasm_resolve64(__s32 kind, __u64 id, char *out, __u32 cap)
{
	return bpfwasm_resolve(kind, (__u32)id, (__u32)(id >> 32), out, cap);
}

/* ---- series cache: exact keys of up to three u64 words (a comm is two) ---- */

#define BPFWASM_CACHE_MISS ((__s32)0x80000000)

/* Define one with a power-of-two capacity at file scope: BPFWASM_CACHE(by_comm, 1024); */
struct bpfwasm_cache_slot { __u64 k0, k1, k2; __s32 id; __u32 used; };
struct bpfwasm_cache {
	struct bpfwasm_cache_slot *slots;
	__u32 mask; /* capacity - 1, capacity a power of two */
	__u32 size;
};
#define BPFWASM_CACHE(name, capacity) \
	static struct bpfwasm_cache_slot name##_slots[(capacity)]; \
	static struct bpfwasm_cache name = { name##_slots, (capacity) - 1, 0 }

static inline __u32 bpfwasm_cache_slot_of(const struct bpfwasm_cache *c, __u64 a, __u64 b, __u64 k)
{
	__u64 h = a * 0x9e3779b97f4a7c15ull ^ ((b * 0xc2b2ae3d27d4eb4full) << 31 | (b * 0xc2b2ae3d27d4eb4full) >> 33) ^
		k * 0x165667b19e3779f9ull;
	h ^= h >> 32;
	return (__u32)h & c->mask;
}

/* The cached id (possibly a negative error code the host answered), or BPFWASM_CACHE_MISS. */
static inline __s32 bpfwasm_cache_get(const struct bpfwasm_cache *c, __u64 a, __u64 b, __u64 k)
{
	for (__u32 i = bpfwasm_cache_slot_of(c, a, b, k);; i = (i + 1) & c->mask) {
		const struct bpfwasm_cache_slot *s = &c->slots[i];
		if (!s->used)
			return BPFWASM_CACHE_MISS;
		if (s->k0 == a && s->k1 == b && s->k2 == k)
			return s->id;
	}
}

static inline void bpfwasm_cache_clear(struct bpfwasm_cache *c)
{
	__builtin_memset(c->slots, 0, sizeof(*c->slots) * (c->mask + 1));
	c->size = 0;
}

/* Caches an id for a key get() just missed; clears the table at 3/4 full (host ids stay valid). */
static inline void bpfwasm_cache_set(struct bpfwasm_cache *c, __u64 a, __u64 b, __u64 k, __s32 id)
{
	if (c->size >= c->mask - (c->mask >> 2))
		bpfwasm_cache_clear(c);
	__u32 i = bpfwasm_cache_slot_of(c, a, b, k);
	while (c->slots[i].used)
		i = (i + 1) & c->mask;
	c->slots[i] = (struct bpfwasm_cache_slot){ a, b, k, id, 1 };
	c->size++;
}

/* The two u64 words of a 16-byte comm, as a cache key. */
static inline __u64 bpfwasm_comm_word(const char *comm, __u32 i)
{
	__u64 w;
	__builtin_memcpy(&w, comm + 8 * i, 8);
	return w;
}

/* ---- the standard exports: write BPFWASM_STANDARD_EXPORTS once in your exporter ---- */

#ifndef BPFWASM_BATCH_BYTES
#define BPFWASM_BATCH_BYTES 65536
#endif

/* The batch buffer is static; a larger request grows memory by whole pages and uses the new end. */
#define BPFWASM_STANDARD_EXPORTS \
	BPFWASM_EXPORT(bpfwasm_abi_version) __s32 bpfwasm_abi_version(void) { return BPFWASM_ABI_VERSION; } \
	static __u64 bpfwasm_batch_static[BPFWASM_BATCH_BYTES / 8]; \
	BPFWASM_EXPORT(bpfwasm_batch_buffer) void *bpfwasm_batch_buffer(__u32 min_bytes) \
	{ \
		if (min_bytes <= sizeof(bpfwasm_batch_static)) \
			return bpfwasm_batch_static; \
		__SIZE_TYPE__ old = __builtin_wasm_memory_grow(0, (min_bytes + 65535) / 65536); \
		return old == (__SIZE_TYPE__)-1 ? 0 : (void *)(old * 65536); \
	}

/* Lets the host expire idle series: write BPFWASM_FORGET_CLEARS(&cache_a, &cache_b) once, listing
 * every cache. Without it the module's series never expire (exporters/ABI.md). */
#define BPFWASM_FORGET_CLEARS(...) \
	BPFWASM_EXPORT(bpfwasm_forget) void bpfwasm_forget(const __u32 *bpfwasm_ids_, __u32 bpfwasm_count_) \
	{ \
		struct bpfwasm_cache *bpfwasm_caches_[] = { __VA_ARGS__ }; \
		(void)bpfwasm_ids_; \
		(void)bpfwasm_count_; \
		for (__u32 i = 0; i < sizeof(bpfwasm_caches_) / sizeof(bpfwasm_caches_[0]); i++) \
			bpfwasm_cache_clear(bpfwasm_caches_[i]); \
	}

#endif /* BPFWASM_H */
