/* Benchmark exporter: subscribes to exec records and does nothing with them, so a batch costs
 * only the runtime's own work (copy in, call, result). */
#include "bpfwasm.h"

BPFWASM_STANDARD_EXPORTS
BPFWASM_EXPORT(bpfwasm_init) __s32 bpfwasm_init(void) { return bpfwasm_subscribe(BPFWASM_RECORD_PROCESS_EXIT); }
BPFWASM_EXPORT(bpfwasm_on_batch) __s32 bpfwasm_on_batch(__u32 t, void *p, __u32 l, __u32 c) { (void)t, (void)p, (void)l, (void)c; return 0; }
