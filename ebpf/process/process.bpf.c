// SPDX-License-Identifier: GPL-2.0
/* Process sensor: fork, exec and exit of every task on the node, from BTF tracepoints. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfwasm_events.h"
#include "bpfwasm.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* The header describes the current task, which is the parent. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct bpfwasm_process_fork *rec = bpfwasm_reserve(sizeof(*rec));

	if (!rec)
		return 0;
	bpfwasm_fill_header(&rec->hdr, BPFWASM_RECORD_PROCESS_FORK, sizeof(*rec));
	rec->child_pid = BPF_CORE_READ(child, pid);
	rec->child_tgid = BPF_CORE_READ(child, tgid);
	bpfwasm_submit(rec);
	return 0;
}

/* Arguments kept per exec (--set process.max_args, config sensors.process.maxArgs); 0 keeps
 * none. The args field (256 bytes) bounds them too. */
const volatile __u32 max_args = 20;

#define ARGS_BYTES sizeof(((struct bpfwasm_process_exec *)0)->args)
#define EXEC_ARGS_LOST 1
#define EXEC_FILENAME_FULL 2

/* Fires after the new image is set up, so the header comm is already the new one and the
 * new stack holds argv between mm->arg_start and mm->arg_end. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct bpfwasm_process_exec *rec = bpfwasm_reserve(sizeof(*rec));
	unsigned long arg_start, arg_end;
	/* 64-bit, so the clamp below bounds the very register the read is given. */
	__u64 len = 0, used = 0;
	__u64 limit, kept = 0;
	__u32 i;
	long n;

	if (!rec)
		return 0;
	bpfwasm_fill_header(&rec->hdr, BPFWASM_RECORD_PROCESS_EXEC, sizeof(*rec));
	rec->ppid = BPF_CORE_READ(task, real_parent, tgid);
	rec->uid = (__u32)bpf_get_current_uid_gid();
	rec->argc = BPF_CORE_READ(bprm, argc);
	rec->flags = 0;
	/* Ring memory holds older records: nothing past the strings may reach a consumer. */
	__builtin_memset(rec->filename, 0, sizeof(rec->filename));
	__builtin_memset(rec->args, 0, sizeof(rec->args));
	n = bpf_probe_read_kernel_str(rec->filename, sizeof(rec->filename), BPF_CORE_READ(bprm, filename));
	if (n == sizeof(rec->filename))
		rec->flags |= EXEC_FILENAME_FULL;

	limit = rec->argc < max_args ? rec->argc : max_args;
	if (limit) {
		arg_start = BPF_CORE_READ(task, mm, arg_start);
		arg_end = BPF_CORE_READ(task, mm, arg_end);
		len = arg_end > arg_start ? arg_end - arg_start : 0;
		if (len > ARGS_BYTES)
			len = ARGS_BYTES;
		/* A page of the new stack not yet present fails the read: no arguments, marked lost. */
		if (bpf_probe_read_user(rec->args, len, (const void *)arg_start))
			len = 0;
	}
	/* argv is argc NUL-terminated strings filling [arg_start, arg_end), so the limit-th NUL
	 * is in the bytes read unless the field cut them. Branch-free, so the verifier walks the
	 * loop once instead of once per way the NULs could fall. */
	if (len) {
		for (i = 0; i < ARGS_BYTES; i++) {
			__u64 byte = rec->args[i];
			__u64 before_limit = ((__u64)kept - limit) >> 63;
			__u64 is_nul;

			/* (byte | -byte) >> 63 is 1 for a non-zero byte; in asm, or clang makes it a branch. */
			asm volatile("%[z] = %[b]\n\t%[z] = -%[z]\n\t%[z] |= %[b]\n\t%[z] >>= 63\n\t%[z] ^= 1"
				     : [z] "=&r"(is_nul) : [b] "r"(byte));
			used += before_limit;
			kept += is_nul & before_limit;
		}
	}
	/* Stopped by max_args: read again only what is kept, so the arguments after it stay out. */
	if (used < len) {
		__builtin_memset(rec->args, 0, sizeof(rec->args));
		if (bpf_probe_read_user(rec->args, used, (const void *)arg_start))
			kept = used = 0;
	}
	rec->args_count = kept;
	rec->args_size = used;
	if (kept < rec->argc)
		rec->flags |= EXEC_ARGS_LOST;
	bpfwasm_submit(rec);
	return 0;
}

/* 6.18 passes (task, group_dead); declaring only the task is enough. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	struct bpfwasm_process_exit *rec;
	pid_t pid = BPF_CORE_READ(task, pid);
	int status;

	/* One record per process, not per thread. */
	if (pid != BPF_CORE_READ(task, tgid))
		return 0;

	rec = bpfwasm_reserve(sizeof(*rec));
	if (!rec)
		return 0;
	bpfwasm_fill_header(&rec->hdr, BPFWASM_RECORD_PROCESS_EXIT, sizeof(*rec));
	/* exit_code is a wait(2) status: exit status in bits 8-15, killing signal in 0-6. */
	status = BPF_CORE_READ(task, exit_code);
	rec->ppid = BPF_CORE_READ(task, real_parent, tgid);
	rec->exit_code = (status >> 8) & 0xff;
	rec->exit_signal = status & 0x7f;
	rec->_pad0 = 0;
	/* start_time is CLOCK_MONOTONIC ns, the clock of bpf_ktime_get_ns. */
	rec->lifetime_ns = bpf_ktime_get_ns() - BPF_CORE_READ(task, group_leader, start_time);
	bpfwasm_submit(rec);
	return 0;
}
