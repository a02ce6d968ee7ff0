/*
 * Built-in exporter in C: tasks created by fork/clone, by the parent's command name. It exists
 * as much to prove the ABI is language-neutral as for the metric: same ABI, no AssemblyScript.
 */
#include "bpfwasm.h"

BPFWASM_STANDARD_EXPORTS

static __s32 fork_total;
static __s32 thread_total;
BPFWASM_CACHE(fork_ids, 1024);
BPFWASM_CACHE(thread_ids, 1024);
BPFWASM_FORGET_CLEARS(&fork_ids, &thread_ids)

BPFWASM_EXPORT(bpfwasm_init) __s32 bpfwasm_init(void)
{
	fork_total = bpfwasm_declare(BPFWASM_COUNTER, "bpfwasm_process_fork_total",
		"Processes created by fork/clone, by the parent's command name", "comm", 0, 0);
	thread_total = bpfwasm_declare(BPFWASM_COUNTER, "bpfwasm_thread_create_total",
		"Threads created by clone in the parent's process, by the parent's command name", "comm", 0, 0);
	if (fork_total < 0)
		return fork_total;
	if (thread_total < 0)
		return thread_total;
	return bpfwasm_subscribe(BPFWASM_RECORD_PROCESS_FORK);
}

/* Interns {comm}; a comm the host refuses as label text (not UTF-8, control bytes) is retried with
 * every byte that is not printable ASCII as '?', so it still counts. */
static __s32 comm_series(__s32 metric, const char *comm)
{
	__u32 len = bpfwasm_strnlen(comm, 16);
	__s32 id = bpfwasm_series1(metric, comm, len);
	if (id == BPFWASM_EUTF8) {
		char safe[16];
		for (__u32 i = 0; i < len; i++)
			safe[i] = (unsigned char)comm[i] >= 0x20 && (unsigned char)comm[i] < 0x7f ? comm[i] : '?';
		id = bpfwasm_series1(metric, safe, len);
	}
	return id;
}

BPFWASM_EXPORT(bpfwasm_on_batch) __s32 bpfwasm_on_batch(__u32 type, const void *ptr, __u32 len, __u32 count)
{
	bpfwasm_batch_begin();
	if (type != BPFWASM_RECORD_PROCESS_FORK || len != count * BPFWASM_PROCESS_FORK_SIZE)
		return 1;
	const struct bpfwasm_process_fork *rec = ptr;
	for (__u32 i = 0; i < count; i++, rec++) {
		const char *comm = rec->hdr.comm;
		__u64 k0 = bpfwasm_comm_word(comm, 0), k1 = bpfwasm_comm_word(comm, 1);
		int thread = rec->child_tgid == rec->hdr.tgid;
		struct bpfwasm_cache *cache = thread ? &thread_ids : &fork_ids;
		__s32 id = bpfwasm_cache_get(cache, k0, k1, 0);
		if (id == BPFWASM_CACHE_MISS) {
			id = comm_series(thread ? thread_total : fork_total, comm);
			bpfwasm_cache_set(cache, k0, k1, 0, id);
		}
		bpfwasm_counter_add(id, 1);
	}
	bpfwasm_flush();
	return 0;
}
