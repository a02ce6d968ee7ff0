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

/* Set by the helper from the kernel's BTF: sched_switch passes prev_state (since 5.18);
 * before, the state is read from `prev` itself, which is what the tracepoint passes. */
const volatile bool switch_has_prev_state = true;

/* When each task was last made runnable (route task_storage): task-local storage, freed
 * with the task, so it needs no cleanup and cannot fill up. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} enqueued_at SEC(".maps");

/* The same stamp keyed by pid (route pid_hash, where task storage is missing): an entry
 * lives from enqueue to switch-in, so only tasks waiting on a run queue hold one. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} enqueued_pid SEC(".maps");

/* task_struct.state before 5.14 renamed it __state. */
struct task_struct___state {
	long state;
} __attribute__((preserve_access_index));

/* Remember that `task` entered the run queue now. pid 0 (idle) is never queued. */
static __always_inline void mark_enqueued(struct task_struct *task, bool pid_hash)
{
	__u64 *ts, now;
	__u32 pid = task->pid;

	if (pid == 0)
		return;
	if (pid_hash) {
		now = bpf_ktime_get_ns();
		if (bpf_map_update_elem(&enqueued_pid, &pid, &now, BPF_ANY))
			bpfwasm_count_map_full();
		return;
	}
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

/* The state `prev` leaves the CPU in: the tracepoint's argument, else the task's own. */
static __always_inline long prev_task_state(unsigned long long *ctx, struct task_struct *prev)
{
	if (switch_has_prev_state)
		return (long)(unsigned int)ctx[3];
	if (bpf_core_field_exists(prev->__state))
		return prev->__state;
	return ((struct task_struct___state *)prev)->state;
}

/* A preempted task stays on the run queue, so its wait starts now (as in bcc's runqlat);
 * `next` ends its wait. */
static __always_inline void on_switch(unsigned long long *ctx, bool preempt,
				      struct task_struct *prev, struct task_struct *next,
				      bool pid_hash)
{
	__u64 *ts, now;
	__u32 pid;

	if (preempt || prev_task_state(ctx, prev) == TASK_RUNNING)
		mark_enqueued(prev, pid_hash);
	pid = next->pid;
	if (pid == 0)
		return;
	ts = pid_hash ? bpf_map_lookup_elem(&enqueued_pid, &pid)
		      : bpf_task_storage_get(&enqueued_at, next, 0, 0);
	if (!ts || *ts == 0)
		return;
	now = bpf_ktime_get_ns();
	record_wait(next, now - *ts);
	/* One wait per enqueue: a task switched in again without a new wakeup is not counted. */
	if (pid_hash)
		bpf_map_delete_elem(&enqueued_pid, &pid);
	else
		*ts = 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(handle_wakeup, struct task_struct *p)
{
	mark_enqueued(p, false);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(handle_wakeup_new, struct task_struct *p)
{
	mark_enqueued(p, false);
	return 0;
}

/* prev_state, the 4th argument, is read only where the kernel has it (prev_task_state). */
SEC("tp_btf/sched_switch")
int BPF_PROG(handle_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(ctx, preempt, prev, next, false);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(handle_wakeup_pid, struct task_struct *p)
{
	mark_enqueued(p, true);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(handle_wakeup_new_pid, struct task_struct *p)
{
	mark_enqueued(p, true);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_switch_pid, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(ctx, preempt, prev, next, true);
	return 0;
}
