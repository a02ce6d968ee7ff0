// SPDX-License-Identifier: GPL-2.0
/* OOM sensor: one record per task the OOM killer marks as its victim, with the memory
 * cgroup whose limit was hit and the victim's memory at the time. Route tp_btf (the
 * mark_victim tracepoint with its task argument) where the kernel has it: fentry/fexit
 * fail to load (EPERM) on some hosts and kprobes are not always built in. Kernels whose
 * mark_victim carries only a pid take route fentry or kprobe on mark_oom_victim instead. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfwasm_events.h"
#include "bpfwasm.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* mm counter indexes (an anonymous enum in the kernel, stable since 4.5). */
#define MM_FILE 0
#define MM_ANON 1
#define MM_SHMEM 3

/* Deeper memory cgroup trees than this are walked only this far up. */
#define MAX_MEMCG_DEPTH 32

/* thread_info flag mark_oom_victim sets first and returns early on (arch headers only). */
#if defined(__TARGET_ARCH_arm64)
#define TIF_MEMDIE 18
#else
#define TIF_MEMDIE 20
#endif
/* A memcg OOM fails a charge of at most 8 pages after reclaim gave up; the usage of
 * the cgroup at its limit stays within one charge batch (64 pages) of it. */
#define AT_LIMIT_SLACK 64

/* Before Linux 6.2 the rss counters were atomics in struct mm_rss_stat. */
struct mm_rss_stat___pre62 {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
} __attribute__((preserve_access_index));

/* Since 6.2 they are percpu_counters: named here too, so this builds against either vmlinux.h. */
struct mm_struct___post62 {
	struct percpu_counter rss_stat[4];
} __attribute__((preserve_access_index));

/* One rss counter of `mm` in pages, read like the kernel's get_mm_counter (the
 * percpu_counter's approximate total, clamped at 0). */
static __always_inline __u64 mm_counter(struct mm_struct *mm, int member)
{
	long value;

	if (bpf_core_field_exists(((struct mm_struct___pre62 *)0)->rss_stat.count))
		value = BPF_CORE_READ((struct mm_struct___pre62 *)mm, rss_stat.count[member].counter);
	else
		value = BPF_CORE_READ((struct mm_struct___post62 *)mm, rss_stat[member].count);
	return value > 0 ? value : 0;
}

static __always_inline struct mem_cgroup *task_memcg(struct task_struct *task)
{
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css = BPF_CORE_READ(task, cgroups, subsys[id]);

	/* css is the first member of struct mem_cgroup. */
	return (struct mem_cgroup *)css;
}

static __always_inline struct mem_cgroup *parent_memcg(struct mem_cgroup *memcg)
{
	return (struct mem_cgroup *)BPF_CORE_READ(memcg, css.parent);
}

/* Whether `memcg` is the one being OOM-handled. mem_cgroup_oom_trylock sets oom_lock on
 * the whole subtree of the memcg that hit its limit while its OOM is handled (cgroup v1,
 * and v2 while CONFIG_MEMCG_V1 exists): `has_oom_lock` says the field exists. Without
 * it, fall back to "usage at the limit". */
static __always_inline bool memcg_in_oom(struct mem_cgroup *memcg, bool has_oom_lock)
{
	unsigned long max, usage;

	if (has_oom_lock)
		return BPF_CORE_READ(memcg, oom_lock);
	max = BPF_CORE_READ(memcg, memory.max);
	usage = BPF_CORE_READ(memcg, memory.usage.counter);
	return usage + AT_LIMIT_SLACK >= max;
}

/* The memcg whose limit caused this OOM: the topmost in-OOM ancestor of the victim's
 * memcg (the victim is always inside it). NULL for a system-wide OOM. */
static __always_inline struct mem_cgroup *oom_memcg(struct task_struct *victim)
{
	struct mem_cgroup *memcg = task_memcg(victim);
	struct mem_cgroup *found = NULL;
	bool locked_walk = bpf_core_field_exists(memcg->oom_lock);
	bool done = false;

	/* Unrolled, without a break (clang unrolls no loop with one here): verifiers before
	 * Linux 6.3 refuse a back edge that follows a helper call ("back-edge from insn"), as
	 * the ancestor read here does. */
#pragma clang loop unroll(full)
	for (int depth = 0; depth < MAX_MEMCG_DEPTH; depth++) {
		if (done || !memcg)
			continue;
		if (memcg_in_oom(memcg, locked_walk))
			found = memcg;
		else if (locked_walk || found)
			done = true; /* the oom_lock subtree is contiguous; at-limit takes the nearest */
		memcg = parent_memcg(memcg);
	}
	return found;
}

static __always_inline void report_victim(struct task_struct *task)
{
	struct bpfwasm_oom_kill *rec = bpfwasm_reserve(sizeof(*rec));
	struct mem_cgroup *memcg;
	struct mm_struct *mm;
	long n;

	if (!rec)
		return;
	bpfwasm_fill_header(&rec->hdr, BPFWASM_RECORD_OOM_KILL, sizeof(*rec));
	rec->victim_pid = BPF_CORE_READ(task, pid);
	rec->victim_tgid = BPF_CORE_READ(task, tgid);
	n = bpf_probe_read_kernel_str(rec->victim_comm, sizeof(rec->victim_comm), &task->comm);
	/* Zero-pad after the NUL, so no stale ring bytes leak into the record. */
#pragma unroll
	for (int i = 0; i < (int)sizeof(rec->victim_comm); i++)
		if (i >= n)
			rec->victim_comm[i] = 0;
	rec->victim_cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	memcg = oom_memcg(task);
	rec->memcg_id = memcg ? BPF_CORE_READ(memcg, css.cgroup, kn, id) : 0;
	/* oom_control.totalpages is out of reach from here: the limit itself (no swap). */
	rec->limit_pages = memcg ? BPF_CORE_READ(memcg, memory.max) : 0;
	mm = BPF_CORE_READ(task, mm);
	rec->rss_pages = mm ? mm_counter(mm, MM_FILE) + mm_counter(mm, MM_ANON) + mm_counter(mm, MM_SHMEM) : 0;
	rec->total_vm_pages = mm ? BPF_CORE_READ(mm, total_vm) : 0;
	rec->oom_score_adj = BPF_CORE_READ(task, signal, oom_score_adj);
	rec->_pad0 = 0;
	bpfwasm_submit(rec);
}

/* Route tp_btf. Fires once per task (TIF_MEMDIE), in the context of the allocating task:
 * after SIGKILL in __oom_kill_process (also for each memory.oom.group member), or when the
 * OOM killer picks a task that is already exiting instead of killing another. */
SEC("tp_btf/mark_victim")
int BPF_PROG(oom_victim, struct task_struct *task)
{
	report_victim(task);
	return 0;
}

/* Routes fentry and kprobe: mark_oom_victim is where the tracepoint fires, once TIF_MEMDIE
 * is set; a task that already has it returns before, so it is skipped here too. */
static __always_inline void on_mark_oom_victim(struct task_struct *task)
{
	if (!((BPF_CORE_READ(task, thread_info.flags) >> TIF_MEMDIE) & 1))
		report_victim(task);
}

SEC("fentry/mark_oom_victim")
int BPF_PROG(oom_victim_fentry, struct task_struct *task)
{
	on_mark_oom_victim(task);
	return 0;
}

SEC("kprobe/mark_oom_victim")
int BPF_KPROBE(oom_victim_kprobe, struct task_struct *task)
{
	on_mark_oom_victim(task);
	return 0;
}
