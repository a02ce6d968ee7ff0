/* The event loop: ring buffer, stdin, shutdown signals the stats and aggregate timers on one epoll. */
#ifndef LOOP_H
#define LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <bpf/libbpf.h>

/* Block SIGTERM and SIGINT (they are read from a signalfd) and return that signalfd. */
int loop_signal_fd(void);

/* Drain stdin (readable); true once it reached EOF or failed: the collector is gone. */
bool loop_stdin_closed(void);

/* Run until SIGTERM/SIGINT or stdin EOF. 0 on a clean stop, else a negative errno. */
/* ring_fds: the sensors' ring buffer maps, watched for the BPF side's wakeups. */
int loop_run(struct ring_buffer *rb, const int *ring_fds, size_t nrings, int signal_fd,
	     __u32 poll_ms, __u32 busy_poll_ms, __u32 stats_ms, __u32 aggregate_ms);

#endif /* LOOP_H */
