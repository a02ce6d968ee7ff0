/* The tcp sensor: connections opened, closed and retransmitting (ebpf/tcp/). */
#include "sensors.h"
#include "bpfwasm_events.h"
#include "tcp.skel.h"

SKELETON_ADAPTER(tcp_bpf)

static const struct sensor_def tcp_sensor = {
	.name = "tcp",
	.programs = (const char *const[]){ "handle_set_state", "handle_send", "handle_recv",
					   "handle_destroy", "handle_retransmit", NULL },
	.records = (const struct record_def[]){
		{ BPFWASM_RECORD_TCP_OPEN, sizeof(struct bpfwasm_tcp_open) },
		{ BPFWASM_RECORD_TCP_CLOSE, sizeof(struct bpfwasm_tcp_close) },
		{ BPFWASM_RECORD_TCP_RETRANSMIT, sizeof(struct bpfwasm_tcp_retransmit) },
		{ 0 },
	},
	/* 512 KiB holds ~7k records: a 180 ms stall of the collector at 38k events/s (a thread
	 * storm) before a drop, each counted; 8× the default --wakeup-bytes. Kernel memory, and
	 * mapped twice into the helper, so it is most of the helper's RSS: raise it per sensor
	 * (sensors.tcp.ringBytes) where churn is heavier. */
	.ring_bytes = 512 * 1024,
	SKELETON_OPS(tcp_bpf),
};

SENSOR_REGISTER(tcp_sensor);
