// SPDX-License-Identifier: GPL-2.0
/* Syscalls sensor: per-syscall latency (log2 slots) and errors per errno, aggregated in
 * the kernel. raw_tp/sys_enter + raw_tp/sys_exit need no tracefs; enabling them costs
 * every syscall on the host ~100 ns (README.md), so the sensor is opt-in. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfwasm_events.h"
#include "bpfwasm.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* In-kernel filters, set by the helper before load (--set syscalls.<name>=V). The
 * verifier sees frozen rodata, so a disabled filter's check is removed at load time. */
const volatile __u32 filter_tgid = 0;		/* process id; 0 = any */
const volatile char filter_comm[16] __attribute__((aligned(8))) = {}; /* exact comm; empty = any */
const volatile __u64 filter_cgroup = 0;		/* cgroup v2 id; 0 = any */
/* 0: the task's own cgroup must be filter_cgroup. N > 0: filter_cgroup sits at depth N
 * of the v2 hierarchy and its whole subtree matches (one helper call either way). */
const volatile __u32 filter_cgroup_level = 0;

#define NR_EXIT 60
#define NR_EXIT_GROUP 231
#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h: 32-bit syscall active */
#define MAX_ERRNO 4095

/* The syscall a thread is in. Kept per live thread (ts 0 = not in a traced syscall) so
 * the hot path updates in place; removed when the thread exits. */
struct start {
	__u64 ts;
	__u32 nr;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct start);
} starts SEC(".maps");

/* Aggregates read by the helper (PROTOCOL.md "Aggregate records"): key = the record's key
 * fields, value = its counters. Keys are never deleted, so allocate them on first use. */
struct latency_key {
	__u32 nr;
	__u32 slot;
};
struct latency_value {
	__u64 count;
	__u64 sum_ns;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct latency_key);
	__type(value, struct latency_value);
} syscall_latency SEC(".maps");

struct error_key {
	__u32 nr;
	__u32 error;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct error_key);
	__type(value, __u64);
} syscall_error SEC(".maps");

_Static_assert(BPFWASM_EVENT_HEADER_SIZE + sizeof(struct latency_key) + sizeof(struct latency_value) ==
		       BPFWASM_SYSCALL_LATENCY_SIZE, "syscall_latency map layout");
_Static_assert(BPFWASM_EVENT_HEADER_SIZE + sizeof(struct error_key) + sizeof(__u64) == BPFWASM_SYSCALL_ERROR_SIZE,
	       "syscall_error map layout");

static __always_inline bool comm_matches(void)
{
	/* Zeroed first: some kernels (6.1) copy the comm with strscpy, which stops at its NUL and
	 * leaves the rest of the buffer as it was, so stack garbage would fail the compare. */
	char comm[16] = {};
	__u64 *have = (__u64 *)comm;
	const volatile __u64 *want = (const volatile __u64 *)filter_comm;

	bpf_get_current_comm(comm, sizeof(comm));
	return have[0] == want[0] && have[1] == want[1];
}

static __always_inline bool cgroup_matches(void)
{
	if (filter_cgroup_level)
		return bpf_get_current_ancestor_cgroup_id(filter_cgroup_level) == filter_cgroup;
	return bpf_get_current_cgroup_id() == filter_cgroup;
}

/* Cheapest test first; each disabled filter is a rodata constant the verifier prunes. */
static __always_inline bool task_selected(__u64 pid_tgid)
{
	if (filter_tgid && (__u32)(pid_tgid >> 32) != filter_tgid)
		return false;
	if (filter_cgroup && !cgroup_matches())
		return false;
	if (filter_comm[0] && !comm_matches())
		return false;
	return true;
}

/* The current thread's thread_info.status: a plain load through the BTF task pointer, or a
 * probe read where the kernel lacks bpf_get_current_task_btf (before 5.11). */
static __always_inline __u32 current_status(void)
{
	struct task_struct *task;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		return bpf_get_current_task_btf()->thread_info.status;
	task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, thread_info.status);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct start *start, fresh;

	if (!task_selected(pid_tgid))
		return 0;
	/* exit and exit_group never return: no start to leak. */
	if (id == NR_EXIT || id == NR_EXIT_GROUP)
		return 0;
	/* An int 0x80 syscall's number is in the i386 table, not the x86_64 one we name. */
	if (current_status() & TS_COMPAT)
		return 0;

	start = bpf_map_lookup_elem(&starts, &tid);
	if (start) {
		start->nr = (__u32)id;
		start->ts = bpf_ktime_get_ns();
		return 0;
	}
	fresh = (struct start){ .ts = bpf_ktime_get_ns(), .nr = (__u32)id };
	if (bpf_map_update_elem(&starts, &tid, &fresh, BPF_NOEXIST))
		bpfwasm_count_map_full();
	return 0;
}

static __always_inline void count_latency(__u32 nr, __u64 ns)
{
	struct latency_key key = { .nr = nr, .slot = bpfwasm_log2_slot(ns) };
	struct latency_value zero = {}, *value;

	value = bpfwasm_aggregate(&syscall_latency, &key, &zero);
	if (!value)
		return;
	/* Per-CPU value: no other writer, plain adds are enough. */
	value->count += 1;
	value->sum_ns += ns;
}

static __always_inline void count_error(__u32 nr, long ret)
{
	struct error_key key = { .nr = nr, .error = (__u32)-ret };
	__u64 zero = 0, *value;

	value = bpfwasm_aggregate(&syscall_error, &key, &zero);
	if (value)
		*value += 1;
}

/* Filtered-out threads have no start (or ts 0): one hash lookup, nothing else. */
SEC("raw_tp/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start *start = bpf_map_lookup_elem(&starts, &tid);
	__u64 now, ts;
	__u32 nr;

	if (!start || !start->ts)
		return 0;
	now = bpf_ktime_get_ns();
	ts = start->ts;
	nr = start->nr;
	start->ts = 0;
	count_latency(nr, now > ts ? now - ts : 0);
	if (ret < 0 && ret >= -MAX_ERRNO)
		count_error(nr, ret);
	return 0;
}

/* A thread that dies inside a syscall (killed mid-exec, or anything that never reaches
 * sys_exit) must not leave its entry behind; also frees entries of finished threads. */
SEC("raw_tp/sched_process_exit")
int BPF_PROG(thread_exit)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&starts, &tid);
	return 0;
}

/* execve from a non-leader thread: the thread takes the leader's pid before sys_exit, so
 * move its start from the old tid to the new one (the old leader's entry went at its exit). */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(exec_moved, struct task_struct *task, pid_t old_pid)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 old = (__u32)old_pid;
	struct start *start;

	if (old == tid)
		return 0;
	start = bpf_map_lookup_elem(&starts, &old);
	if (!start)
		return 0;
	if (bpf_map_update_elem(&starts, &tid, start, BPF_ANY))
		bpfwasm_count_map_full();
	bpf_map_delete_elem(&starts, &old);
	return 0;
}
