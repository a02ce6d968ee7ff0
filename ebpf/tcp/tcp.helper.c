/* The tcp sensor's helper hooks: the probes of its routes, which differ only in the
 * send/receive hooks that claim a passive connection (README "Routes"), and its configure
 * hook. The rest of it is declared in sensor.yaml. */
#include <errno.h>

#include "probe.h"
#include "tcp.sensor.h"

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
