/* STATS frames (PROTOCOL.md), all values cumulative. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "announce.h"
#include "helper.h"
#include "bpfwasm_stats.h"
#include "output.h"
#include "stats.h"

#define NOT_PER_SENSOR 0xffff
#define NOT_PER_CPU 0xffff

struct stat_record {
	__u16 kind;
	__u16 sensor;
	__u16 index;
	__u16 cpu;
	__u64 value;
};
_Static_assert(sizeof(struct stat_record) == 16, "stat record layout");

static const struct sensor *sensors;
static size_t nsensors;
static int ncpus;
static __u64 *percpu;		  /* one value per possible CPU, for map lookups */
static struct stat_record *records; /* room for a whole frame */
static int run_stats_fd = -1;	  /* keeps BPF_ENABLE_STATS on while open */
static bool run_stats;
static __u64 malformed_reported;

static bool sysctl_bpf_stats_enabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");
	int enabled = 0;

	if (f) {
		if (fscanf(f, "%d", &enabled) != 1)
			enabled = 0;
		fclose(f);
	}
	return enabled == 1;
}

int stats_init(const struct sensor *s, size_t n)
{
	size_t max_records = 0;
	int enable_err;

	sensors = s;
	nsensors = n;
	ncpus = libbpf_num_possible_cpus();
	if (ncpus < 0)
		return ncpus;
	for (size_t i = 0; i < n; i++) {
		max_records += 3 * (size_t)ncpus + 2 * s[i].nprograms;
		for (const struct record_def *r = s[i].def->records; r->type; r++)
			max_records++;
	}
	percpu = calloc(ncpus, sizeof(*percpu));
	records = calloc(max_records, sizeof(*records));
	if (!percpu || !records)
		return -ENOMEM;

	/* Needs CAP_SYS_ADMIN. Without it the run stats are only real if an admin set
	 * kernel.bpf_stats_enabled; otherwise they are left out rather than sent as zeros. */
	run_stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	enable_err = errno;
	run_stats = run_stats_fd >= 0 || sysctl_bpf_stats_enabled();
	if (!run_stats)
		return announce_log("warn", "program run stats unavailable: BPF_ENABLE_STATS: %s%s",
				    strerror(enable_err),
				    enable_err != EPERM ? "" :
				    " (needs CAP_SYS_ADMIN or sysctl kernel.bpf_stats_enabled=1)");
	return 0;
}

void stats_free(void)
{
	if (run_stats_fd >= 0)
		close(run_stats_fd);
	run_stats_fd = -1;
	free(percpu);
	free(records);
	percpu = NULL;
	records = NULL;
}

static struct stat_record *add(struct stat_record *r, __u16 kind, __u16 sensor, __u16 index,
			       __u16 cpu, __u64 value)
{
	*r = (struct stat_record){ kind, sensor, index, cpu, value };
	return r + 1;
}

static struct stat_record *add_ring_stats(struct stat_record *r, __u16 id, const struct sensor *s)
{
	static const struct {
		__u32 slot;
		enum stat_kind kind;
	} slots[] = {
		{ BPFWASM_STAT_RESERVE_FAILED, STAT_RING_DROPS },
		{ BPFWASM_STAT_SUBMITTED, STAT_RING_SUBMITTED },
		{ BPFWASM_STAT_MAP_FULL, STAT_MAP_FULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(slots); i++) {
		/* A failed lookup leaves zeros; the next frame carries the cumulative value. */
		if (bpf_map_lookup_elem(bpf_map__fd(s->stats), &slots[i].slot, percpu))
			memset(percpu, 0, ncpus * sizeof(*percpu));
		for (int cpu = 0; cpu < ncpus; cpu++)
			r = add(r, slots[i].kind, id, 0, cpu, percpu[cpu]);
	}
	return r;
}

static struct stat_record *add_run_stats(struct stat_record *r, __u16 id, const struct sensor *s)
{
	for (size_t p = 0; p < s->nprograms; p++) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(bpf_program__fd(s->programs[p]), &info, &len))
			continue;
		r = add(r, STAT_PROG_RUN_COUNT, id, p, NOT_PER_CPU, info.run_cnt);
		r = add(r, STAT_PROG_RUN_TIME_NS, id, p, NOT_PER_CPU, info.run_time_ns);
	}
	return r;
}

int stats_write(void)
{
	struct stat_record *r = records;
	__u64 malformed = output_malformed_records();
	int err = output_flush();

	if (err)
		return err;
	for (size_t i = 0; i < nsensors; i++) {
		r = add_ring_stats(r, sensors[i].id, &sensors[i]);
		for (const struct record_def *rd = sensors[i].def->records; rd->type; rd++)
			r = add(r, STAT_RECORDS_WRITTEN, NOT_PER_SENSOR, rd->type, NOT_PER_CPU,
				output_records_written(rd->type));
		if (run_stats)
			r = add_run_stats(r, sensors[i].id, &sensors[i]);
	}
	err = output_frame(FRAME_STATS, r - records, records, (r - records) * sizeof(*records));
	if (err || malformed == malformed_reported)
		return err;
	malformed_reported = malformed;
	return announce_log("warn", "%llu ring records dropped as malformed (unknown type or size)",
			    (unsigned long long)malformed);
}
