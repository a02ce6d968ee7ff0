/* Aggregate records: a sensor counts in a HASH/PERCPU_HASH map keyed like its record; here
 * each read sums the CPUs and sends the increase since the previous read, so the map never
 * needs resetting (a reset would race with the BPF side and lose counts). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>

#include "aggregate.h"
#include "bpfwasm_events.h"
#include "helper.h"
#include "output.h"

#define MAX_KEY_BYTES 64
#define MAX_VALUES 8

/* Previous totals per key: open addressing, sized at twice the map's max_entries. */
struct shadow_slot {
	__u8 used;
	__u8 key[MAX_KEY_BYTES];
	__u64 totals[MAX_VALUES];
};

struct aggregate {
	int fd;
	bool percpu;
	__u32 key_size;
	__u32 nvalues;
	__u32 stride; /* bytes per CPU in a lookup result */
	__u16 type;
	__u16 size;
	struct shadow_slot *shadow;
	__u32 shadow_mask;
};

static struct aggregate *aggs;
static size_t naggs;
static int ncpus;
static __u8 *values;  /* one lookup result: ncpus * largest stride */
static __u8 *record;  /* one record under construction */

bool aggregate_any(void)
{
	return naggs > 0;
}

static __u32 hash_key(const __u8 *key, __u32 len)
{
	__u32 h = 2166136261u; /* FNV-1a */

	for (__u32 i = 0; i < len; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

/* The slot for `key`, claimed if new. The table has twice the map's entries, so it never fills. */
static struct shadow_slot *shadow_slot(struct aggregate *a, const __u8 *key)
{
	for (__u32 i = hash_key(key, a->key_size);; i++) {
		struct shadow_slot *slot = &a->shadow[i & a->shadow_mask];

		if (!slot->used) {
			slot->used = 1;
			memcpy(slot->key, key, a->key_size);
			return slot;
		}
		if (!memcmp(slot->key, key, a->key_size))
			return slot;
	}
}

static int setup(struct aggregate *a, const struct sensor *s, const struct aggregate_def *def)
{
	struct bpf_map *map = bpf_object__find_map_by_name(s->def->object(s->skel), def->map);
	enum bpf_map_type type;
	__u32 value_size, entries, cap = 2;

	if (!map) {
		diag("sensor '%s': no aggregation map '%s'", s->def->name, def->map);
		return -ENOENT;
	}
	type = bpf_map__type(map);
	a->percpu = type == BPF_MAP_TYPE_PERCPU_HASH;
	a->key_size = bpf_map__key_size(map);
	value_size = bpf_map__value_size(map);
	entries = bpf_map__max_entries(map);
	if ((type != BPF_MAP_TYPE_HASH && !a->percpu) || a->key_size > MAX_KEY_BYTES ||
	    a->key_size % 8 || value_size % 8 || value_size / 8 > MAX_VALUES || !value_size ||
	    BPFWASM_EVENT_HEADER_SIZE + a->key_size + value_size != def->size) {
		diag("sensor '%s': map '%s' (type %d, key %u, value %u bytes) does not match record "
		     "type %u of %u bytes: needs a (per-CPU) hash of header-less key and u64 values",
		     s->def->name, def->map, type, a->key_size, value_size, def->type, def->size);
		return -EINVAL;
	}
	a->fd = bpf_map__fd(map);
	a->nvalues = value_size / 8;
	a->stride = value_size; /* per-CPU values are rounded up to 8 bytes, as ours already are */
	a->type = def->type;
	a->size = def->size;
	while (cap < 2 * (__u64)entries)
		cap <<= 1;
	a->shadow = calloc(cap, sizeof(*a->shadow));
	if (!a->shadow)
		return -ENOMEM;
	a->shadow_mask = cap - 1;
	return 0;
}

int aggregate_init(const struct sensor *sensors, size_t n)
{
	size_t total = 0, k = 0;
	int err;

	for (size_t i = 0; i < n; i++)
		for (const struct aggregate_def *d = sensors[i].def->aggregates; d && d->map; d++)
			total++;
	if (!total)
		return 0;
	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0)
		return ncpus;
	aggs = calloc(total, sizeof(*aggs));
	values = calloc(ncpus, MAX_VALUES * 8);
	record = calloc(1, BPFWASM_EVENT_HEADER_SIZE + MAX_KEY_BYTES + MAX_VALUES * 8);
	if (!aggs || !values || !record)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		for (const struct aggregate_def *d = sensors[i].def->aggregates; d && d->map; d++) {
			err = setup(&aggs[k], &sensors[i], d);
			if (err)
				return err;
			naggs = ++k;
		}
	}
	return 0;
}

/* Sum one key's values over the CPUs, and queue a record if any rose since last time. */
static int emit_key(struct aggregate *a, const __u8 *key)
{
	struct bpfwasm_event_header *hdr = (struct bpfwasm_event_header *)record;
	__u64 *out = (__u64 *)(record + BPFWASM_EVENT_HEADER_SIZE + a->key_size);
	struct shadow_slot *slot;
	struct timespec ts;
	bool rose = false;

	if (bpf_map_lookup_elem(a->fd, key, values))
		return errno == ENOENT ? 0 : -errno;
	slot = shadow_slot(a, key);
	for (__u32 v = 0; v < a->nvalues; v++) {
		__u64 total = 0;

		for (int cpu = 0; cpu < (a->percpu ? ncpus : 1); cpu++)
			total += ((__u64 *)(values + (size_t)cpu * a->stride))[v];
		/* Counters only rise; a smaller total means the key was deleted and re-created. */
		out[v] = total >= slot->totals[v] ? total - slot->totals[v] : total;
		rose |= out[v] != 0;
		slot->totals[v] = total;
	}
	if (!rose)
		return 0;
	/* Stamped after the read, never before: every count it carries happened before this
	 * time (a stamp taken before a preempted read would date counts made after it). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	memset(hdr, 0, sizeof(*hdr));
	hdr->type = a->type;
	hdr->size = a->size;
	hdr->cpu = 0xffffffff;
	hdr->timestamp_ns = (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	memcpy(record + BPFWASM_EVENT_HEADER_SIZE, key, a->key_size);
	return output_record(record, a->size);
}

int aggregate_drain(void)
{
	__u8 key[MAX_KEY_BYTES], next[MAX_KEY_BYTES];
	int err;

	for (size_t i = 0; i < naggs; i++) {
		struct aggregate *a = &aggs[i];
		const void *prev = NULL;

		while (!bpf_map_get_next_key(a->fd, prev, next)) {
			memcpy(key, next, a->key_size);
			prev = key;
			err = emit_key(a, key);
			if (err)
				return err;
		}
		if (errno != ENOENT)
			return -errno;
	}
	return 0;
}

void aggregate_free(void)
{
	for (size_t i = 0; i < naggs; i++)
		free(aggs[i].shadow);
	free(aggs);
	free(values);
	free(record);
	aggs = NULL;
	values = record = NULL;
	naggs = 0;
}
