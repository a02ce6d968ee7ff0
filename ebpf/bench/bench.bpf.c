// SPDX-License-Identifier: GPL-2.0
/* Benchmark sensor: one bench_syscall record per syscall the target process enters, so the
 * pipeline's throughput can be driven at a known rate (bench/throughput.mjs). Not for
 * production: raw_tp/sys_enter costs every syscall on the host while attached. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfwasm_events.h"
#include "bpfwasm.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Target process id, set before load (--set bench.tgid=N); 0 targets nothing, so an
 * unconfigured bench sensor cannot flood the pipeline with the whole host's syscalls. */
const volatile __u32 tgid = 0;

/* raw_tp needs no tracefs and no BTF attach target; its args are (regs, id). */
SEC("raw_tp/sys_enter")
int BPF_PROG(bench_sys_enter, struct pt_regs *regs, long id)
{
	struct bpfwasm_bench_syscall *rec;

	if (!tgid || (bpf_get_current_pid_tgid() >> 32) != tgid)
		return 0;
	rec = bpfwasm_reserve(sizeof(*rec));
	if (!rec)
		return 0;
	bpfwasm_fill_header(&rec->hdr, BPFWASM_RECORD_BENCH_SYSCALL, sizeof(*rec));
	rec->nr = id;
	rec->_pad0 = 0;
	bpfwasm_submit(rec);
	return 0;
}
