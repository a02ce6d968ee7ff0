// SPDX-License-Identifier: GPL-2.0
/* TCP sensor: connections opened (active and passive), closed and retransmitting, each
 * attributed to the socket's process, never to whatever task a softirq interrupted.
 * BTF tracepoints, but for the send/receive hooks that claim a passive socket: the
 * sock_{send,recv}_length tracepoints where the kernel has them, else fentry or a kprobe on
 * tcp_sendmsg/tcp_recvmsg (the helper picks the route, README.md "Routes"). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "bpfwasm_events.h"
#include "bpfwasm.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* <sys/socket.h> value; vmlinux.h has no macros. */
#define FAMILY_INET6 10

#define DIRECTION_ACTIVE 1
#define DIRECTION_PASSIVE 2

/* sk_shutdown bits (include/net/sock.h). */
#define SHUTDOWN_MASK 3

/* Set by the helper from the kernel's BTF: tcp_retransmit_skb has an `err` argument (6.18
 * does, 6.12 does not). The verifier never sees the read of a missing argument: it skips
 * the branch this read-only value rules out. */
const volatile bool retransmit_has_err = false;

/* What the sensor knows about one connection with an owner, from connect() (active) or its
 * owner's first use (passive) to CLOSE. */
struct conn {
	__u64 established_ns; /* handshake completed; 0 while an active connect is in SYN_SENT */
	__u64 reported;	      /* 1 once tcp_open was emitted: exactly then tcp_close will be */
	__u64 cgroup_id;
	__u32 pid;
	__u32 tgid;
	char comm[16];
	__u16 direction;
	__u8 fin_sent; /* close()/shutdown() queued our FIN (FIN_WAIT1 or LAST_ACK) */
	__u8 _pad[5];
};

/* Keyed by the struct sock address. Every entry is deleted at the socket's CLOSE or, at
 * the latest, its destruction. Not preallocated: memory follows the live connections. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

/* Passive connections from the handshake to their owner's first use: handshake time by
 * struct sock address. The claim is the delete that succeeds, so two threads using a new
 * socket at once report it once (an atomic compare-and-swap needs Linux 5.12). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
} unclaimed SEC(".maps");

static __always_inline void set_owner_current(struct conn *c)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	c->cgroup_id = bpf_get_current_cgroup_id();
	c->pid = (__u32)pid_tgid;
	c->tgid = pid_tgid >> 32;
	bpf_get_current_comm(c->comm, sizeof(c->comm));
}

/* The common header with the connection's owner instead of the current task; an unknown
 * owner (no entry: e.g. a passive socket not yet used) leaves pid, tgid, cgroup, comm zero. */
static __always_inline void fill_owner_header(struct bpfwasm_event_header *hdr, __u16 type,
					      __u16 size, const struct conn *c)
{
	hdr->type = type;
	hdr->size = size;
	hdr->cpu = bpf_get_smp_processor_id();
	hdr->timestamp_ns = bpf_ktime_get_ns();
	if (c) {
		hdr->pid = c->pid;
		hdr->tgid = c->tgid;
		hdr->cgroup_id = c->cgroup_id;
		__builtin_memcpy(hdr->comm, c->comm, sizeof(hdr->comm));
	} else {
		hdr->pid = 0;
		hdr->tgid = 0;
		hdr->cgroup_id = 0;
		__builtin_memset(hdr->comm, 0, sizeof(hdr->comm));
	}
}

/* Addresses (network order; IPv4 in the first 4 bytes, the rest zero), ports (host order)
 * and family of `sk`: the same layout in tcp_open, tcp_close and tcp_retransmit. */
static __always_inline void fill_endpoints(const struct sock *sk, __u8 local[16], __u8 remote[16],
					   __u16 *lport, __u16 *rport, __u16 *family)
{
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(local, 0, 16);
	__builtin_memset(remote, 0, 16);
	if (fam == FAMILY_INET6) {
		bpf_core_read(local, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(remote, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__u32 *)local, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)remote, sk, __sk_common.skc_daddr);
	}
	/* inet_sport, not skc_num: the CLOSE transition releases the port and zeroes skc_num. */
	*lport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	*rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	*family = fam;
}

static __always_inline void emit_open(const struct sock *sk, const struct conn *c)
{
	struct bpfwasm_tcp_open *rec = bpfwasm_reserve(sizeof(*rec));

	if (!rec)
		return;
	fill_owner_header(&rec->hdr, BPFWASM_RECORD_TCP_OPEN, sizeof(*rec), c);
	fill_endpoints(sk, rec->local_addr, rec->remote_addr, &rec->local_port, &rec->remote_port,
		       &rec->family);
	rec->direction = c->direction;
	bpfwasm_submit(rec);
}

/* tcp_sock's counters are RFC 4898 sequence space: the peer's FIN counts one byte
 * received, our SYN (active side) and our FIN one byte acked each. Take those out, so the
 * record carries payload bytes whatever the close sequence was. */
static __always_inline __u64 payload_received(const struct sock *sk, const struct tcp_sock *tp)
{
	__u64 bytes = BPF_CORE_READ(tp, bytes_received);
	/* tcp_fin() sets SOCK_DONE exactly when the FIN was taken into rcv_nxt. */
	__u64 fin = (BPF_CORE_READ(sk, __sk_common.skc_flags) >> SOCK_DONE) & 1;

	return bytes >= fin ? bytes - fin : 0;
}

static __always_inline __u64 payload_acked(const struct tcp_sock *tp, const struct conn *c)
{
	__u64 bytes = BPF_CORE_READ(tp, bytes_acked);
	__u64 control = c->direction == DIRECTION_ACTIVE; /* the SYN, acked by the SYN-ACK */

	/* Nothing follows a FIN in the write queue: snd_una == write_seq once it is acked. */
	if (c->fin_sent && BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		control++;
	return bytes >= control ? bytes - control : 0;
}

static __always_inline void emit_close(const struct sock *sk, const struct conn *c)
{
	struct bpfwasm_tcp_close *rec = bpfwasm_reserve(sizeof(*rec));
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;

	if (!rec)
		return;
	fill_owner_header(&rec->hdr, BPFWASM_RECORD_TCP_CLOSE, sizeof(*rec), c);
	fill_endpoints(sk, rec->local_addr, rec->remote_addr, &rec->local_port, &rec->remote_port,
		       &rec->family);
	rec->direction = c->direction;
	rec->duration_ns = rec->hdr.timestamp_ns - c->established_ns;
	rec->bytes_received = payload_received(sk, tp);
	rec->bytes_acked = payload_acked(tp, c);
	bpfwasm_submit(rec);
}

/* Forget `sk`, emitting tcp_close if tcp_open was emitted. Only the caller whose delete
 * succeeds emits, so CLOSE and destroy racing on one socket report it once. */
static __always_inline void forget(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct conn *found;
	struct conn c;

	bpf_map_delete_elem(&unclaimed, &key); /* a passive socket nobody used */
	found = bpf_map_lookup_elem(&conns, &key);
	if (!found)
		return;
	c = *found; /* before the delete: a freed element may be reused at once */
	if (bpf_map_delete_elem(&conns, &key))
		return;
	if (c.reported)
		emit_close(sk, &c);
}

/* A passive connection belongs to the first task that uses it once accept() grafted it to
 * a socket (sk_socket set): the accept() caller or whoever it handed the fd to. */
static __always_inline void claim_passive(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	__u64 *established = bpf_map_lookup_elem(&unclaimed, &key);
	struct conn c = { .direction = DIRECTION_PASSIVE, .reported = 1 };

	if (!established || !BPF_CORE_READ(sk, sk_socket))
		return;
	c.established_ns = *established; /* before the delete: a freed element may be reused */
	/* Two threads may use a new socket at once: one delete wins, tcp_open is emitted once. */
	if (bpf_map_delete_elem(&unclaimed, &key))
		return;
	set_owner_current(&c);
	if (bpf_map_update_elem(&conns, &key, &c, BPF_NOEXIST)) {
		bpfwasm_count_map_full();
		return;
	}
	emit_open(sk, &c);
}

/* SYN_SENT happens inside connect(): remember the caller. */
static __always_inline void on_syn_sent(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct conn c = { .direction = DIRECTION_ACTIVE };

	set_owner_current(&c);
	if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY))
		bpfwasm_count_map_full();
}

/* ESTABLISHED usually runs in softirq: an active connect is reported with the remembered
 * caller; a passive one (from SYN_RECV) waits for its owner to show up. */
static __always_inline void on_established(const struct sock *sk, int oldstate)
{
	__u64 key = (__u64)sk;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	__u64 now = bpf_ktime_get_ns();

	if (c) {
		if (c->direction != DIRECTION_ACTIVE || c->reported)
			return;
		c->established_ns = now;
		c->reported = 1;
		emit_open(sk, c);
		return;
	}
	if (oldstate == TCP_SYN_RECV && bpf_map_update_elem(&unclaimed, &key, &now, BPF_NOEXIST))
		bpfwasm_count_map_full();
}

/* Transitions only close() and shutdown() make, so in the caller's context (this kernel
 * gives no way to tell a softirq from a task otherwise: no per-CPU ksyms). */
static __always_inline bool by_owner(const struct sock *sk, int newstate)
{
	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK)
		return true;
	/* close() with unread data or SO_LINGER 0 sets sk_shutdown before going to CLOSE;
	 * an RST in softirq (tcp_done) sets it only after the transition. */
	return newstate == TCP_CLOSE && BPF_CORE_READ(sk, sk_shutdown) == SHUTDOWN_MASK;
}

/* FIN_WAIT1 and LAST_ACK come from tcp_close_state(), which queues our FIN. */
static __always_inline void on_fin_sent(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);

	if (c)
		c->fin_sent = 1;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	/* close()/shutdown() of a passive socket its owner never read or wrote. */
	if (by_owner(sk, newstate))
		claim_passive(sk);
	if (newstate == TCP_SYN_SENT)
		on_syn_sent(sk);
	else if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK)
		on_fin_sent(sk);
	else if (newstate == TCP_ESTABLISHED)
		on_established(sk, oldstate);
	else if (newstate == TCP_CLOSE)
		forget(sk); /* also drops connects that never completed */
	return 0;
}

/* Route tp_btf: sendmsg/recvmsg on any socket, always in the caller's context. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(handle_send, struct sock *sk, int ret, int flags)
{
	if (BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP)
		claim_passive(sk);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(handle_recv, struct sock *sk, int ret, int flags)
{
	if (BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP)
		claim_passive(sk);
	return 0;
}

/* Routes fentry and kprobe: TCP's own sendmsg/recvmsg (every send and receive call on a
 * TCP socket, read() and write() included), in the caller's context. */
SEC("fentry/tcp_sendmsg")
int BPF_PROG(handle_send_fentry, struct sock *sk)
{
	claim_passive(sk);
	return 0;
}

SEC("fentry/tcp_recvmsg")
int BPF_PROG(handle_recv_fentry, struct sock *sk)
{
	claim_passive(sk);
	return 0;
}

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(handle_send_kprobe, struct sock *sk)
{
	claim_passive(sk);
	return 0;
}

SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(handle_recv_kprobe, struct sock *sk)
{
	claim_passive(sk);
	return 0;
}

/* Every full TCP socket ends here: drop whatever a CLOSE transition the sensor did not
 * see left behind, so the map never keeps entries of dead sockets. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(handle_destroy, struct sock *sk)
{
	forget(sk);
	return 0;
}

/* 6.18 also fires this for attempts that sent nothing (err != 0, e.g. -EBUSY while the
 * original is still in a local queue); count only segments that went out, as the
 * kernel's own total_retrans does. Older kernels fire it only for segments sent. */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(handle_retransmit, const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct bpfwasm_tcp_retransmit *rec;
	struct conn *c;

	if (retransmit_has_err && ctx[2]) /* err, the third argument where it exists */
		return 0;
	c = bpf_map_lookup_elem(&conns, &key);
	rec = bpfwasm_reserve(sizeof(*rec));
	if (!rec)
		return 0;
	fill_owner_header(&rec->hdr, BPFWASM_RECORD_TCP_RETRANSMIT, sizeof(*rec), c);
	fill_endpoints(sk, rec->local_addr, rec->remote_addr, &rec->local_port, &rec->remote_port,
		       &rec->family);
	rec->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	bpfwasm_submit(rec);
	return 0;
}
