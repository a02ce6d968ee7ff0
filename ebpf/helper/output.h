/* The frame writer (PROTOCOL.md): frames on stdout, EVENTS batched per record type. */
#ifndef OUTPUT_H
#define OUTPUT_H

#include <stddef.h>
#include <linux/types.h>

#include "bpfwasm_protocol.h" /* enum frame_kind, the magic and version (ebpf/schema/abi.yaml) */

#define FRAME_MAX_PAYLOAD (1u << 20)
#define OUTPUT_MAX_RECORD_TYPE 63 /* highest record type id the batch table holds */

/* interrupt_fd: while a write waits for the reader, this fd becoming readable (a
 * pending SIGTERM on the signalfd) abandons the write with -ECANCELED. -1 for none. */
int output_init(__u32 batch_bytes, int interrupt_fd);
/* Give `type` a batch buffer; records of types without one are counted as malformed. */
int output_add_record_type(__u16 type, __u16 size);
void output_free(void);
/* --sink null: records are checked and counted as written but never sent (benchmarks of
 * the kernel and ring side alone); HELLO, READY, STATS and LOG frames still go out. */
void output_discard_records(void);

/* Every call below returns 0 or a negative errno; after a failure all fail the same way. */
int output_frame(enum frame_kind kind, __u32 count, const void *payload, __u32 len);
/* Copy one ring-buffer record into its batch; flushes the batch when the next would not fit. */
int output_record(const void *data, size_t size);
/* Write every non-empty batch as an EVENTS frame, all in one writev (one wake-up of the reader). */
int output_flush(void);

/* The error that stopped the output for good (negative errno), 0 while it works. */
int output_error(void);
__u64 output_records_written(__u16 type);
/* Whether records wait in a batch for the next flush. */
bool output_pending(void);
__u64 output_malformed_records(void);

#endif /* OUTPUT_H */
