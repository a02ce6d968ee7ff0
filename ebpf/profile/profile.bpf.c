// SPDX-License-Identifier: GPL-2.0
/* CPU profiler: runs on every sample of a per-CPU software clock perf event and sends
 * (tgid, pid, comm, kernel stack, user stack) through a ring buffer. The helper interns the
 * stacks and counts in user space, so nothing is lost to stack-map hash collisions. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfwasm_profile.h"

char LICENSE[] SEC("license") = "GPL";

#define ENOENT 2

/* Set by the helper before load; rodata, so the verifier prunes the disabled branches. */
const volatile __u32 target_tgid = 0;	   /* 0: every process */
const volatile __u64 target_cgroup_id = 0; /* 0: every cgroup */
const volatile __u32 want_kernel = 1;
const volatile __u32 want_user = 1;
const volatile __u32 include_idle = 0;	   /* count pid 0 (the idle task) */
const volatile __u32 wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PROFILE_RING_BYTES);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_ERR_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} errors SEC(".maps");

static __always_inline void count_error(__u32 slot)
{
	__u64 *value = bpf_map_lookup_elem(&errors, &slot);

	/* Per-CPU slot: no other writer on this CPU. */
	if (value)
		*value += 1;
}

/* Count an empty or failed stack by kind; `missing_slot` is for an empty one. */
static __always_inline void count_stack_error(long bytes, __u32 missing_slot)
{
	if (bytes == 0 || bytes == -14 /* EFAULT */)
		count_error(missing_slot);
	else if (bytes < 0)
		count_error(PROFILE_ERR_OTHER);
}

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, pid = (__u32)pid_tgid;
	struct profile_sample *s;
	long bytes;

	if (pid == 0 && !include_idle)
		return 0;
	if (target_tgid && tgid != target_tgid)
		return 0;
	if (target_cgroup_id && bpf_get_current_cgroup_id() != target_cgroup_id)
		return 0;

	s = bpf_ringbuf_reserve(&samples, sizeof(*s), 0);
	if (!s) {
		count_error(PROFILE_ERR_LOST);
		return 0;
	}
	s->tgid = tgid;
	s->pid = pid;
	s->kernel_bytes = -ENOENT;
	if (want_kernel) {
		bytes = bpf_get_stack(ctx, s->kernel, sizeof(s->kernel), 0);
		count_stack_error(bytes, PROFILE_ERR_KERNEL_MISSING);
		s->kernel_bytes = bytes;
	}
	s->user_bytes = -ENOENT;
	if (want_user) {
		bytes = bpf_get_stack(ctx, s->user, sizeof(s->user), BPF_F_USER_STACK);
		count_stack_error(bytes, PROFILE_ERR_USER_MISSING);
		s->user_bytes = bytes;
	}
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	/* One wakeup per batch: the helper also drains on a short timer. */
	bpf_ringbuf_submit(s, bpf_ringbuf_query(&samples, BPF_RB_AVAIL_DATA) >= wakeup_bytes
				      ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	return 0;
}
