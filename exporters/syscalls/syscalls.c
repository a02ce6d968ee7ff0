/*
 * Built-in exporter for the syscalls sensor: the in-kernel aggregates (syscall_latency,
 * syscall_error) become a latency histogram per syscall name and an error counter per
 * syscall and errno name. Records carry increases, so each one is a bucket add + sum add.
 */
#include "bpfwasm.h"

BPFWASM_STANDARD_EXPORTS

/* Histogram bounds 2^s ns for s = SLOT_LO..SLOT_HI: ~1 us to ~17 s. */
#define SLOT_LO 10
#define SLOT_HI 34
#define NBOUNDS (SLOT_HI - SLOT_LO + 1)
#define NAME_CAP 64
#define BAD_BATCH 1

static __s32 latency;
static __s32 errors;
static double bounds[NBOUNDS];
BPFWASM_CACHE(latency_ids, 1024); /* key: nr */
BPFWASM_CACHE(error_ids, 1024);   /* key: nr, errno */
BPFWASM_FORGET_CLEARS(&latency_ids, &error_ids)

BPFWASM_EXPORT(bpfwasm_init) __s32 bpfwasm_init(void)
{
	__u32 nbounds = bpfwasm_log2_seconds_buckets(bounds, SLOT_LO, SLOT_HI);
	latency = bpfwasm_declare(BPFWASM_HISTOGRAM, "bpfwasm_syscall_latency_seconds",
		"Syscall latency from entry to return, by syscall name", "syscall", bounds, nbounds);
	if (latency < 0)
		return latency;
	errors = bpfwasm_declare(BPFWASM_COUNTER, "bpfwasm_syscall_errors_total",
		"Syscalls that returned an error, by syscall name and errno name", "syscall,errno", 0, 0);
	if (errors < 0)
		return errors;
	__s32 err = bpfwasm_subscribe(BPFWASM_RECORD_SYSCALL_LATENCY);
	return err < 0 ? err : bpfwasm_subscribe(BPFWASM_RECORD_SYSCALL_ERROR);
}

/* Writes `prefix` then the decimal digits of n into out; returns the length. */
static __u32 prefixed_number(char *out, const char *prefix, __u32 n)
{
	char digits[10];
	__u32 len = 0, nd = 0;
	while (prefix[len]) {
		out[len] = prefix[len];
		len++;
	}
	do {
		digits[nd++] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	while (nd)
		out[len++] = digits[--nd];
	return len;
}

/* The host's name for id (cached host-side), or prefix+id when it has none. */
static __u32 name_of(__s32 kind, __u32 id, const char *fallback_prefix, char *out)
{
	__s32 len = bpfwasm_resolve(kind, id, 0, out, NAME_CAP);
	if (len > 0 && len <= NAME_CAP)
		return (__u32)len;
	return prefixed_number(out, fallback_prefix, id);
}

static __s32 latency_series(__u32 nr)
{
	__s32 id = bpfwasm_cache_get(&latency_ids, nr, 0, 0);
	if (id == BPFWASM_CACHE_MISS) {
		char name[NAME_CAP];
		id = bpfwasm_series1(latency, name, name_of(BPFWASM_RESOLVE_SYSCALL, nr, "syscall_", name));
		bpfwasm_cache_set(&latency_ids, nr, 0, 0, id);
	}
	return id;
}

static __s32 error_series(__u32 nr, __u32 error)
{
	__s32 id = bpfwasm_cache_get(&error_ids, nr, error, 0);
	if (id == BPFWASM_CACHE_MISS) {
		char name[NAME_CAP], errno_name[NAME_CAP];
		__u32 name_len = name_of(BPFWASM_RESOLVE_SYSCALL, nr, "syscall_", name);
		__u32 errno_len = name_of(BPFWASM_RESOLVE_ERRNO, error, "E", errno_name);
		id = bpfwasm_series2(errors, name, name_len, errno_name, errno_len);
		bpfwasm_cache_set(&error_ids, nr, error, 0, id);
	}
	return id;
}

static void on_latency(const struct bpfwasm_syscall_latency *rec, __u32 count)
{
	for (__u32 i = 0; i < count; i++, rec++) {
		__s32 id = latency_series(rec->nr);
		bpfwasm_observe_bucket(id, bpfwasm_slot_bucket(rec->slot, SLOT_LO, SLOT_HI), (double)rec->count);
		bpfwasm_add_sum(id, (double)rec->sum_ns / 1e9);
	}
}

static void on_error(const struct bpfwasm_syscall_error *rec, __u32 count)
{
	for (__u32 i = 0; i < count; i++, rec++)
		bpfwasm_counter_add(error_series(rec->nr, rec->error), (double)rec->count);
}

BPFWASM_EXPORT(bpfwasm_on_batch) __s32 bpfwasm_on_batch(__u32 type, const void *ptr, __u32 len, __u32 count)
{
	bpfwasm_batch_begin();
	if (type == BPFWASM_RECORD_SYSCALL_LATENCY && len == count * BPFWASM_SYSCALL_LATENCY_SIZE)
		on_latency(ptr, count);
	else if (type == BPFWASM_RECORD_SYSCALL_ERROR && len == count * BPFWASM_SYSCALL_ERROR_SIZE)
		on_error(ptr, count);
	else
		return BAD_BATCH;
	bpfwasm_flush();
	return 0;
}
