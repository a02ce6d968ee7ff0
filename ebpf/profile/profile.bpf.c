// SPDX-License-Identifier: GPL-2.0
/* CPU profiler: runs on every sample of a per-CPU software clock perf event and counts
 * (tgid, pid, kernel stack, user stack, comm). The helper reads the maps once at the end. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfwasm_profile.h"

char LICENSE[] SEC("license") = "GPL";

#define EFAULT 14
#define EEXIST 17
#define ENOENT 2

/* Set by the helper before load; rodata, so the verifier prunes the disabled branches. */
const volatile __u32 target_tgid = 0;	   /* 0: every process */
const volatile __u64 target_cgroup_id = 0; /* 0: every cgroup */
const volatile __u32 want_kernel = 1;
const volatile __u32 want_user = 1;
const volatile __u32 include_idle = 0;	   /* count pid 0 (the idle task) */

/* No BPF_F_REUSE_STACKID: reuse would overwrite stacks that counted samples still point
 * to; a full map shows up as counted collisions instead. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, PROFILE_STACK_ENTRIES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PROFILE_MAX_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROFILE_COUNT_ENTRIES);
	__type(key, struct profile_key);
	__type(value, __u64);
} counts SEC(".maps");

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

/* Count a negative stack id by kind; `missing_slot` is for -EFAULT (no stack). */
static __always_inline void count_stack_error(long id, __u32 missing_slot)
{
	if (id == -EFAULT)
		count_error(missing_slot);
	else if (id == -EEXIST)
		count_error(PROFILE_ERR_COLLISIONS);
	else if (id < 0)
		count_error(PROFILE_ERR_OTHER);
}

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct profile_key key = {};
	__u64 one = 1, *value;
	long id;

	key.tgid = pid_tgid >> 32;
	key.pid = (__u32)pid_tgid;
	if (key.pid == 0 && !include_idle)
		return 0;
	if (target_tgid && key.tgid != target_tgid)
		return 0;
	if (target_cgroup_id && bpf_get_current_cgroup_id() != target_cgroup_id)
		return 0;

	key.kernel_stack_id = -ENOENT;
	if (want_kernel) {
		id = bpf_get_stackid(ctx, &stacks, 0);
		count_stack_error(id, PROFILE_ERR_KERNEL_MISSING);
		key.kernel_stack_id = id;
	}
	key.user_stack_id = -ENOENT;
	if (want_user) {
		id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		count_stack_error(id, PROFILE_ERR_USER_MISSING);
		key.user_stack_id = id;
	}
	bpf_get_current_comm(key.comm, sizeof(key.comm));

	value = bpf_map_lookup_elem(&counts, &key);
	if (value) {
		__sync_fetch_and_add(value, 1);
		return 0;
	}
	/* Another CPU may insert the same key first (EEXIST): then add to its entry. */
	if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST)) {
		value = bpf_map_lookup_elem(&counts, &key);
		if (value)
			__sync_fetch_and_add(value, 1);
		else
			count_error(PROFILE_ERR_OTHER); /* counts hash full: the sample is lost */
	}
	return 0;
}
