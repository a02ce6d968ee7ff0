/* The profile program's maps, shared by the BPF side and the helper (PROTOCOL.md "Profile
 * mode"). Include after vmlinux.h (BPF side) or <linux/types.h> (helper). */
#ifndef BPFWASM_PROFILE_H
#define BPFWASM_PROFILE_H

#define PROFILE_MAX_DEPTH 127	      /* PERF_MAX_STACK_DEPTH */
#define PROFILE_STACK_ENTRIES 16384   /* stack-trace map: distinct stacks kept */
#define PROFILE_COUNT_ENTRIES 65536   /* counts hash: distinct (task, stacks, comm) keys */
#define PROFILE_COMM_LEN 16

/* Key of the `counts` hash; the value is a __u64 sample count. Laid out like the first
 * 16 and last 16 bytes of a PROFILE_SAMPLES record. */
struct profile_key {
	__u32 tgid;
	__u32 pid;
	__s32 kernel_stack_id; /* negative: -errno from bpf_get_stackid, or -ENOENT: not wanted */
	__s32 user_stack_id;
	char comm[PROFILE_COMM_LEN];
};

/* Slots of the per-CPU `errors` array. */
enum profile_error_slot {
	PROFILE_ERR_KERNEL_MISSING = 0, /* -EFAULT for the kernel stack: sample in user mode */
	PROFILE_ERR_USER_MISSING = 1,	/* -EFAULT for the user stack: kernel thread, idle */
	PROFILE_ERR_COLLISIONS = 2,	/* -EEXIST: stack map full or hash bucket taken */
	PROFILE_ERR_OTHER = 3,		/* any other stackid error, or a full counts hash */
	PROFILE_ERR_SLOTS = 4,
};

#endif /* BPFWASM_PROFILE_H */
