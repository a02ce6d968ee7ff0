/* The profile program's records and counters, shared by the BPF side and the helper
 * (PROTOCOL.md "Profile mode"). Include after vmlinux.h (BPF side) or <linux/types.h> (helper). */
#ifndef BPFWASM_PROFILE_H
#define BPFWASM_PROFILE_H

#define PROFILE_MAX_DEPTH 127	      /* PERF_MAX_STACK_DEPTH */
#define PROFILE_COMM_LEN 16
#define PROFILE_RING_BYTES (8u << 20) /* ~2 s of 2 CPUs at 999 Hz with full-depth stacks */

/* One sample in the `samples` ring: both stacks copied out by bpf_get_stack, so no stack is
 * ever lost to a hash collision; the helper interns the stacks and counts the keys. */
struct profile_sample {
	__u32 tgid;
	__u32 pid;
	__s32 kernel_bytes; /* bytes of kernel[] filled; 0: no kernel stack; -ENOENT: not wanted; <0: -errno */
	__s32 user_bytes;   /* likewise for user[] */
	char comm[PROFILE_COMM_LEN];
	__u64 kernel[PROFILE_MAX_DEPTH];
	__u64 user[PROFILE_MAX_DEPTH];
};

/* Slots of the per-CPU `errors` array. */
enum profile_error_slot {
	PROFILE_ERR_KERNEL_MISSING = 0, /* no kernel stack: sample in user mode */
	PROFILE_ERR_USER_MISSING = 1,	/* no user stack: kernel thread, idle */
	PROFILE_ERR_LOST = 2,		/* the ring was full: the whole sample is lost */
	PROFILE_ERR_OTHER = 3,		/* any other bpf_get_stack error */
	PROFILE_ERR_SLOTS = 4,
};

#endif /* BPFWASM_PROFILE_H */
