/*
 * Built-in exporter of the benchmark sensor (ebpf/bench/): counts bench_syscall records, one
 * counter update per batch, so bench/throughput.mjs measures the pipeline rather than the
 * exporter's own work. Its one series is created at init and never expires (no bpfwasm_forget).
 */
#include "bpfwasm.h"

BPFWASM_STANDARD_EXPORTS

static __s32 events_total = -1;

BPFWASM_EXPORT(bpfwasm_init) __s32 bpfwasm_init(void)
{
	__s32 metric = bpfwasm_declare(BPFWASM_COUNTER, "bpfwasm_bench_events_total",
		"bench_syscall records received (benchmark sensor)", "", 0, 0);
	if (metric < 0)
		return metric;
	events_total = bpfwasm_series(metric, 0, 0);
	if (events_total < 0)
		return events_total;
	return bpfwasm_subscribe(BPFWASM_RECORD_BENCH_SYSCALL);
}

BPFWASM_EXPORT(bpfwasm_on_batch) __s32 bpfwasm_on_batch(__u32 type, const void *ptr, __u32 len, __u32 count)
{
	bpfwasm_batch_begin();
	(void)ptr;
	if (type != BPFWASM_RECORD_BENCH_SYSCALL || len != count * BPFWASM_BENCH_SYSCALL_SIZE)
		return 1;
	bpfwasm_counter_add(events_total, count);
	bpfwasm_flush();
	return 0;
}
