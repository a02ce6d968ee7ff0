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

/* Fires after the new image is set up, so the header comm is already the new one. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct bpfwasm_process_exec *rec = bpfwasm_reserve(sizeof(*rec));

	if (!rec)
		return 0;
	bpfwasm_fill_header(&rec->hdr, BPFWASM_RECORD_PROCESS_EXEC, sizeof(*rec));
	rec->ppid = BPF_CORE_READ(task, real_parent, tgid);
	rec->_pad0 = 0;
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
