/* Kernel feature probes: what the sensors' route choice and --check ask before loading.
 * Each returns 0 when the feature works, else a negative errno (-ENOENT: not in this kernel). */
#ifndef PROBE_H
#define PROBE_H

#include <stdbool.h>
#include <bpf/btf.h>

/* The kernel's BTF, parsed once (14-20 ms) and shared by every probe and by libbpf's loads of
 * every sensor; NULL and errno if unreadable. Freed by probe_free. */
struct btf *probe_kernel_btf(void);
void probe_free(void);

/* Arguments of tracepoint `name` as tp_btf programs see them (its btf_trace_<name> typedef,
 * without the leading context pointer): their count, or -ENOENT. */
int probe_tracepoint_args(const char *name);
/* 0 if argument `index` of tracepoint `name` is a pointer to struct `type`, else -ENOENT. */
int probe_tracepoint_arg_struct(const char *name, int index, const char *type);
/* Loads a tp_btf program for tracepoint `name` and attaches it. */
int probe_tp_btf(const char *name);
/* Loads an fentry program on kernel function `func` and attaches it (trampolines work here). */
int probe_fentry(const char *func);
/* Opens a kprobe on `func` through the kprobe PMU (absent without CONFIG_KPROBES). */
int probe_kprobe(const char *func);

/* The kernel BTF is readable and parses. */
int probe_btf(void);
int probe_ringbuf(void);
/* A CPU-clock sampling event on CPU 0 with a perf_event program on it, as the profiler does. */
int probe_perf_event(void);
/* BPF_ENABLE_STATS: what makes the per-program run counts and times real. */
int probe_bpf_stats(void);
/* The first integer in file `path`. */
int probe_read_int(const char *path, int *value);

#endif /* PROBE_H */
