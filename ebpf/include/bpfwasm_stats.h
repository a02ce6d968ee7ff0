/* Slots of every sensor's per-CPU `stats` map, shared by the BPF side and the helper. */
#ifndef BPFWASM_STATS_H
#define BPFWASM_STATS_H

enum bpfwasm_stat_slot {
	BPFWASM_STAT_SUBMITTED = 0,	 /* records submitted to the `events` ring */
	BPFWASM_STAT_RESERVE_FAILED = 1, /* reservations that failed: events lost in the kernel */
	BPFWASM_STAT_MAP_FULL = 2,	 /* map inserts that failed (table full): data lost in the kernel */
	BPFWASM_STAT_SLOTS = 3,
};

#endif /* BPFWASM_STATS_H */
