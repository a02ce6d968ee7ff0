/* The tcp sensor: connections opened, closed and retransmitting (ebpf/tcp/). Its routes
 * differ only in the send/receive hooks that claim a passive connection (README "Routes"). */
#include <errno.h>

#include "sensors.h"
#include "bpfwasm_events.h"
#include "probe.h"
#include "tcp.skel.h"

SKELETON_ADAPTER(tcp_bpf)

static int tp_btf_available(const char **why)
{
	*why = "no sock_send_length/sock_recv_length tracepoints in the kernel BTF";
	return probe_tracepoint_args("sock_send_length") < 1 ? -ENOENT
	       : probe_tracepoint_args("sock_recv_length") < 1 ? -ENOENT : 0;
}

static int fentry_available(const char **why)
{
	int err = probe_fentry("tcp_sendmsg");

	*why = "fentry on tcp_sendmsg/tcp_recvmsg cannot be attached";
	return err ? err : probe_fentry("tcp_recvmsg");
}

static int kprobe_available(const char **why)
{
	int err = probe_kprobe("tcp_sendmsg");

	*why = "no kprobe on tcp_sendmsg/tcp_recvmsg";
	return err ? err : probe_kprobe("tcp_recvmsg");
}

/* Read the tracepoint's `err` only where the kernel's tcp_retransmit_skb has it. */
static int tcp_configure(void *skel)
{
	((struct tcp_bpf *)skel)->rodata->retransmit_has_err =
		probe_tracepoint_args("tcp_retransmit_skb") >= 3;
	return 0;
}

static const struct sensor_def tcp_sensor = {
	.name = "tcp",
	.programs = (const char *const[]){ "handle_set_state", "handle_send", "handle_recv",
					   "handle_destroy", "handle_retransmit",
					   "handle_send_fentry", "handle_recv_fentry",
					   "handle_send_kprobe", "handle_recv_kprobe", NULL },
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
	.routes = (const struct route_def[]){
		{ "tp_btf", (const char *const[]){ "handle_send", "handle_recv", NULL },
		  tp_btf_available },
		{ "fentry", (const char *const[]){ "handle_send_fentry", "handle_recv_fentry", NULL },
		  fentry_available },
		{ "kprobe", (const char *const[]){ "handle_send_kprobe", "handle_recv_kprobe", NULL },
		  kprobe_available },
		{ 0 },
	},
	.configure = tcp_configure,
	SKELETON_OPS(tcp_bpf),
};

SENSOR_REGISTER(tcp_sensor);
