/* Frame writer: EVENTS batched per record type in buffers allocated once, so a record
 * costs one memcpy; a flush writes every batch's frame in one writev. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/types.h>

#include "bpfwasm_events.h"
#include "output.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wire protocol is little-endian and the helper writes host-order structs"
#endif

struct frame_header {
	__u32 magic;
	__u16 version;
	__u16 kind;
	__u32 length;
	__u32 count;
	__u16 record_type;
	__u16 flags;
	__u32 seq;
};
_Static_assert(sizeof(struct frame_header) == 24, "frame header layout");

struct batch {
	unsigned char *payload; /* NULL: not a record type of an enabled sensor */
	__u16 record_size;
	__u32 used;
	__u32 count;
	__u64 written;
};

static struct batch batches[OUTPUT_MAX_RECORD_TYPE + 1];
static __u32 batch_capacity;
static __u32 next_seq;
static int sticky_error;
static int interrupt_fd = -1;
static __u64 malformed;
static bool discard;

/* A socket's send buffer that takes two whole frames (skb overhead included), so a stream's
 * frame goes out in one write while the reader is asleep, not in a wake-up each for the
 * helper and the reader per default-sized (208 KiB) buffer. FORCE passes net.core.wmem_max
 * where the helper has CAP_NET_ADMIN; else the kernel caps it there. Best effort. */
static void grow_socket_buffer(__u32 batch_bytes)
{
	int want = (int)(2 * (batch_bytes + 4096)), have = 0;
	socklen_t len = sizeof(have);

	if (!getsockopt(STDOUT_FILENO, SOL_SOCKET, SO_SNDBUF, &have, &len) && have >= want)
		return;
	if (setsockopt(STDOUT_FILENO, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)))
		(void)setsockopt(STDOUT_FILENO, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
}

int output_init(__u32 batch_bytes, int interrupt)
{
	struct stat st;

	batch_capacity = batch_bytes;
	interrupt_fd = interrupt;
	if (fstat(STDOUT_FILENO, &st))
		return 0; /* not open: the first write reports it */
	if (S_ISSOCK(st.st_mode))
		grow_socket_buffer(batch_bytes);
	/* Non-blocking on a pipe, so a stuck reader cannot make SIGTERM wait. Only a pipe:
	 * a terminal's flags are shared with the shell. */
	if (S_ISFIFO(st.st_mode)) {
		int flags = fcntl(STDOUT_FILENO, F_GETFL);

		if (flags < 0 || fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK) < 0)
			return -errno;
	}
	return 0;
}

int output_add_record_type(__u16 type, __u16 size)
{
	struct batch *b;

	if (type > OUTPUT_MAX_RECORD_TYPE || size < sizeof(struct bpfwasm_event_header) ||
	    size > batch_capacity)
		return -EINVAL;
	b = &batches[type];
	if (b->payload)
		return -EEXIST;
	b->payload = malloc(batch_capacity);
	if (!b->payload)
		return -ENOMEM;
	b->record_size = size;
	return 0;
}

void output_discard_records(void)
{
	discard = true;
}

void output_free(void)
{
	for (size_t i = 0; i <= OUTPUT_MAX_RECORD_TYPE; i++) {
		free(batches[i].payload);
		batches[i].payload = NULL;
	}
}

/* Wait until stdout takes more data; -ECANCELED if the interrupt fd fires first. */
static int wait_writable(void)
{
	struct pollfd fds[2] = {
		{ .fd = STDOUT_FILENO, .events = POLLOUT },
		{ .fd = interrupt_fd, .events = POLLIN }, /* a negative fd is ignored */
	};

	while (poll(fds, 2, -1) < 0)
		if (errno != EINTR)
			return -errno;
	if (fds[1].revents & POLLIN)
		return -ECANCELED;
	return 0; /* writable, or an error the next write reports */
}

/* Writes the iovecs whole; `sent` (if not NULL) adds up the bytes written, also when it fails part way. */
static int write_fully(struct iovec *iov, int iovcnt, size_t *sent)
{
	while (iovcnt > 0) {
		ssize_t n = writev(STDOUT_FILENO, iov, iovcnt);
		int err;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			err = wait_writable();
			if (err)
				return err;
			continue;
		}
		if (sent)
			*sent += n;
		for (; iovcnt > 0 && (size_t)n >= iov->iov_len; iov++, iovcnt--)
			n -= iov->iov_len;
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= n;
		}
	}
	return 0;
}

static void frame_header(struct frame_header *h, __u16 kind, __u16 record_type, __u32 count, __u32 len,
			 __u32 seq)
{
	*h = (struct frame_header){
		.magic = BPFWASM_FRAME_MAGIC,
		.version = BPFWASM_PROTOCOL_VERSION,
		.kind = kind,
		.length = len,
		.count = count,
		.record_type = record_type,
		.seq = seq,
	};
}

int output_frame(enum frame_kind kind, __u32 count, const void *payload, __u32 len)
{
	struct frame_header header;
	struct iovec iov[2] = {
		{ .iov_base = &header, .iov_len = sizeof(header) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};

	if (sticky_error)
		return sticky_error;
	if (len > FRAME_MAX_PAYLOAD)
		return -EMSGSIZE;
	frame_header(&header, kind, 0, count, len, next_seq);
	sticky_error = write_fully(iov, 2, NULL);
	if (!sticky_error)
		next_seq++;
	return sticky_error;
}

/* Frame headers and iovecs of one flush: at most one EVENTS frame per record type. */
static struct frame_header flush_headers[OUTPUT_MAX_RECORD_TYPE + 1];
static struct iovec flush_iov[2 * (OUTPUT_MAX_RECORD_TYPE + 1)];

/* Writes the non-empty batches of types first..last as EVENTS frames in ONE writev, so the
 * reader is woken once per flush, not once per record type (PROTOCOL.md, "When the helper
 * flushes"). A batch whose frame went out whole counts as written, even if a later one failed. */
static int flush_batches(__u16 first, __u16 last)
{
	__u16 types[OUTPUT_MAX_RECORD_TYPE + 1];
	int frames = 0;
	size_t sent = 0;
	int err;

	if (sticky_error)
		return sticky_error;
	for (__u16 type = first; type <= last; type++) {
		struct batch *b = &batches[type];

		if (!b->count)
			continue;
		frame_header(&flush_headers[frames], FRAME_EVENTS, type, b->count, b->used, next_seq + frames);
		flush_iov[2 * frames] = (struct iovec){ &flush_headers[frames], sizeof(struct frame_header) };
		flush_iov[2 * frames + 1] = (struct iovec){ b->payload, b->used };
		types[frames++] = type;
	}
	if (!frames)
		return 0;
	err = write_fully(flush_iov, 2 * frames, &sent);
	for (int i = 0; i < frames; i++) {
		struct batch *b = &batches[types[i]];
		size_t bytes = sizeof(struct frame_header) + b->used;

		if (sent < bytes)
			break;
		sent -= bytes;
		b->written += b->count;
		b->count = 0;
		b->used = 0;
		next_seq++;
	}
	sticky_error = err;
	return err;
}

int output_record(const void *data, size_t size)
{
	const struct bpfwasm_event_header *hdr = data;
	struct batch *b;

	if (size < sizeof(*hdr) || hdr->type > OUTPUT_MAX_RECORD_TYPE) {
		malformed++;
		return 0;
	}
	b = &batches[hdr->type];
	if (!b->payload || size != b->record_size || hdr->size != b->record_size) {
		malformed++;
		return 0;
	}
	/* Counted as written, so RECORDS_WRITTEN still says how many were read from the rings. */
	if (discard) {
		b->written++;
		return 0;
	}
	memcpy(b->payload + b->used, data, size);
	b->used += size;
	b->count++;
	/* A full batch goes out alone, mid-drain; the others wait for the flush. */
	return b->used + size > batch_capacity ? flush_batches(hdr->type, hdr->type) : 0;
}

int output_flush(void)
{
	return flush_batches(0, OUTPUT_MAX_RECORD_TYPE);
}

int output_error(void)
{
	return sticky_error;
}

__u64 output_records_written(__u16 type)
{
	return type <= OUTPUT_MAX_RECORD_TYPE ? batches[type].written : 0;
}

bool output_pending(void)
{
	for (__u16 type = 0; type <= OUTPUT_MAX_RECORD_TYPE; type++)
		if (batches[type].count)
			return true;
	return false;
}

__u64 output_malformed_records(void)
{
	return malformed;
}
