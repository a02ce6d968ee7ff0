// SPDX-License-Identifier: GPL-2.0
/* runqlat sensor: scheduler run-queue latency (wakeup or preemption -> switch-in), as a
 * log2 histogram per cgroup, aggregated in the kernel (PROTOCOL.md "Aggregate records"). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfwasm_events.h"
#include "bpfwasm.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define TASK_RUNNING 0
/* Keys are cgroups x log2 slots; waits up to 17 s use slots 0-34, so ~470 busy cgroups fit. */
#define RUNQLAT_MAX_KEYS 16384

/* Set by the helper (--set runqlat.per_cgroup=1): key the histogram by the task's cgroup
 * v2 id; 0 folds every task into cgroup_id 0, one histogram for the node. */
const volatile __u32 per_cgroup = 0;

/* The record's key fields, in record order. */
struct runqlat_key {
	__u64 cgroup_id;
	__u32 slot;
	__u32 _pad;
};

/* The record's counters, cumulative. */
struct runqlat_value {
	__u64 count;
	__u64 sum_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, RUNQLAT_MAX_KEYS);
	__type(key, struct runqlat_key);
	__type(value, struct runqlat_value);
} runqlat_hist SEC(".maps");

/* When each task was last made runnable: task-local storage, freed with the task, so it
 * needs no cleanup and cannot fill up the way a pid-keyed hash can. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} enqueued_at SEC(".maps");

/* Remember that `task` entered the run queue now. pid 0 (idle) is never queued. */
static __always_inline void mark_enqueued(struct task_struct *task)
{
	__u64 *ts;

	if (task->pid == 0)
		return;
	ts = bpf_task_storage_get(&enqueued_at, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ts) {
		/* Allocation failed or storage was busy (recursion): this wait goes unmeasured. */
		bpfwasm_count_map_full();
		return;
	}
	*ts = bpf_ktime_get_ns();
}

/* cgroup v2 id of `task` (what bpf_get_current_cgroup_id returns for the current task). */
static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

/* Add one wait of `ns` to the histogram of `task`'s cgroup. */
static __always_inline void record_wait(struct task_struct *task, __u64 ns)
{
	static const struct runqlat_value zero;
	struct runqlat_key key = {
		.cgroup_id = per_cgroup ? task_cgroup_id(task) : 0,
		.slot = bpfwasm_log2_slot(ns),
	};
	struct runqlat_value *value = bpfwasm_aggregate(&runqlat_hist, &key, &zero);

	if (!value)
		return;
	/* Per-CPU value: no other writer on this CPU. */
	value->count += 1;
	value->sum_ns += ns;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(handle_wakeup, struct task_struct *p)
{
	mark_enqueued(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(handle_wakeup_new, struct task_struct *p)
{
	mark_enqueued(p);
	return 0;
}

/* A preempted task stays on the run queue, so its wait starts now (as in bcc's runqlat);
 * `next` ends its wait. */
SEC("tp_btf/sched_switch")
int BPF_PROG(handle_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 *ts, now;

	if (preempt || prev_state == TASK_RUNNING)
		mark_enqueued(prev);
	if (next->pid == 0)
		return 0;
	ts = bpf_task_storage_get(&enqueued_at, next, 0, 0);
	if (!ts || *ts == 0)
		return 0;
	now = bpf_ktime_get_ns();
	record_wait(next, now - *ts);
	/* One wait per enqueue: a task switched in again without a new wakeup is not counted. */
	*ts = 0;
	return 0;
}
