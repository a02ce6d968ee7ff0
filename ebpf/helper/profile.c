/* Profile mode: a software CPU-clock perf event per online CPU runs profile.bpf.c, which
 * sends every sample with its stacks through a ring buffer. While it samples, this file
 * drains the ring every DRAIN_INTERVAL_MS, interns the stacks, counts the samples per key and
 * sends the maps of each process the first time it is seen; at the end it writes
 * PROFILE_STACKS, PROFILE_SAMPLES and PROFILE_DONE frames. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "announce.h"
#include "bpfwasm_profile.h"
#include "helper.h"
#include "loop.h"
#include "output.h"
#include "profile.h"
#include "profile.skel.h"

#define DRAIN_INTERVAL_MS 20	/* 2 CPUs at 999 Hz fill ~80 KiB of the 8 MiB ring in this time */
#define MAPS_HEADER 8		/* u32 tgid, u32 0 before the text of /proc/TGID/maps */
#define STOPPED_EARLY 1		/* sample(): SIGTERM, SIGINT or stdin EOF: no result */
#define FINISH_EARLY 2		/* sample(): SIGUSR1: stop and write what was sampled */
#define MAX_KEYS (1u << 20)	/* distinct (task, stacks, comm) keys kept */
#define MAX_STACKS (1u << 20)	/* distinct stacks kept */
#define EFAULT_ID (-14)		/* stack id of an empty stack, as bpf_get_stackid gave it */

/* A PROFILE_SAMPLES record; also the key the helper counts by. */
struct sample_record {
	__u32 tgid;
	__u32 pid;
	__s32 kernel_stack_id;
	__s32 user_stack_id;
	__u64 samples;
	char comm[PROFILE_COMM_LEN];
};
_Static_assert(sizeof(struct sample_record) == 40, "PROFILE_SAMPLES record layout");

/* Distinct stacks, numbered in order of first sight: ids index offsets/depths. */
struct stack_table {
	__u64 *ips;		/* every stack's ips, back to back */
	size_t ips_len, ips_cap;
	struct { __u32 offset, depth; } *refs; /* by id */
	__u32 count, refs_cap;
	__u32 *slots;		/* open addressing: id + 1, 0 = empty */
	__u32 nslots;
};

/* Sample counts per key (samples 0 = empty slot), open addressing. */
struct count_table {
	struct sample_record *slots;
	__u32 len, nslots;
};

struct profiler {
	struct profile_bpf *skel;
	struct bpf_link **links; /* one per online CPU; each owns its perf event fd */
	int nlinks;
	struct ring_buffer *ring;
	struct stack_table stacks;
	struct count_table counts;
	__u64 samples;
	__u64 table_full; /* samples lost because a table reached its cap or malloc failed */
	int error;	  /* first error inside the ring callback, which cannot return it usefully */
	__u32 *maps_sent; /* open-addressing set of tgids whose maps were sent; 0 = empty */
	size_t maps_sent_cap, maps_sent_len;
	char *maps_buf;	  /* MAPS_HEADER + text, at most one frame */
	__u64 maps_gone, maps_unreadable, maps_truncated;
	int maps_error;	  /* errno of the last unreadable maps file */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* EPERM/EACCES also come from the verifier: only missing capabilities mean exit 3. */
static bool missing_privilege(int err)
{
	return (err == -EPERM || err == -EACCES) && !caps_allow_tracing();
}

static int setup_failure(const char *what, int err)
{
	if (missing_privilege(err)) {
		diag("profile failed to %s: needs CAP_BPF and CAP_PERFMON: run as root or grant "
		     "them, e.g. setcap cap_bpf,cap_perfmon+ep <helper>", what);
		return EXIT_NO_PRIVILEGE;
	}
	diag("profile failed to %s: %s", what, strerror(-err));
	return EXIT_SENSOR_FAILED;
}

static int runtime_failure(const char *what, int err)
{
	if (err == -ECANCELED)
		return EXIT_CLEAN; /* SIGTERM while the reader was stuck: stop without a result */
	if (output_error()) {
		diag("writing frames to stdout failed: %s", strerror(-output_error()));
		return EXIT_OUTPUT_FAILED;
	}
	diag("profile %s failed: %s", what, strerror(-err));
	return EXIT_SENSOR_FAILED;
}

/* ---- the set of tgids whose maps were sent ---- */

static size_t tgid_slot(__u32 tgid, size_t cap)
{
	return (tgid * 2654435761u) & (cap - 1); /* Knuth's multiplicative hash */
}

/* 1: added, 0: already there, or -ENOMEM. */
static int tgid_set_add(struct profiler *p, __u32 tgid)
{
	size_t i;

	if ((p->maps_sent_len + 1) * 2 > p->maps_sent_cap) {
		size_t cap = p->maps_sent_cap ? p->maps_sent_cap * 2 : 1024;
		__u32 *slots = calloc(cap, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		for (size_t j = 0; j < p->maps_sent_cap; j++) {
			if (!p->maps_sent[j])
				continue;
			for (i = tgid_slot(p->maps_sent[j], cap); slots[i]; i = (i + 1) & (cap - 1))
				;
			slots[i] = p->maps_sent[j];
		}
		free(p->maps_sent);
		p->maps_sent = slots;
		p->maps_sent_cap = cap;
	}
	for (i = tgid_slot(tgid, p->maps_sent_cap); p->maps_sent[i]; i = (i + 1) & (p->maps_sent_cap - 1))
		if (p->maps_sent[i] == tgid)
			return 0;
	p->maps_sent[i] = tgid;
	p->maps_sent_len++;
	return 1;
}

/* ---- PROCESS_MAPS ---- */

/* Read /proc/TGID/maps into maps_buf; the length, or -errno. */
static ssize_t read_maps(struct profiler *p, __u32 tgid)
{
	size_t used = MAPS_HEADER;
	char path[32];
	ssize_t n = 0;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%u/maps", tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (used < FRAME_MAX_PAYLOAD) {
		n = read(fd, p->maps_buf + used, FRAME_MAX_PAYLOAD - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += n;
	}
	if (n < 0)
		err = -errno;
	close(fd);
	return err ? err : (ssize_t)used;
}

/* Send the maps of tgid; a process that is gone or unreadable is counted, not an error. */
static int send_process_maps(struct profiler *p, __u32 tgid)
{
	ssize_t len = read_maps(p, tgid);
	__u32 *header = (__u32 *)p->maps_buf;

	if (len == -ENOENT || len == -ESRCH) {
		p->maps_gone++;
		return 0;
	}
	if (len < 0) {
		p->maps_unreadable++;
		p->maps_error = -len;
		return 0;
	}
	/* A full frame means there was more: cut at the last whole line. */
	if ((size_t)len == FRAME_MAX_PAYLOAD) {
		char *last = memrchr(p->maps_buf + MAPS_HEADER, '\n', len - MAPS_HEADER);

		len = last ? last + 1 - p->maps_buf : MAPS_HEADER;
		p->maps_truncated++;
	}
	header[0] = tgid;
	header[1] = 0;
	return output_frame(FRAME_PROCESS_MAPS, 0, p->maps_buf, len);
}

/* ---- interning stacks and counting samples ---- */

static __u64 hash_bytes(const void *data, size_t len)
{
	const unsigned char *b = data;
	__u64 h = 14695981039346656037ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static int grow(void **array, size_t elem, __u32 *cap, __u32 need)
{
	__u32 n = *cap ? *cap : 1024;
	void *bigger;

	while (n < need)
		n *= 2;
	if (n == *cap)
		return 0;
	bigger = realloc(*array, (size_t)n * elem);
	if (!bigger)
		return -ENOMEM;
	*array = bigger;
	*cap = n;
	return 0;
}

static __u32 *stack_slot(struct stack_table *t, const __u64 *ips, __u32 depth, __u64 hash)
{
	__u32 mask = t->nslots - 1, i = hash & mask;

	for (;; i = (i + 1) & mask) {
		__u32 id = t->slots[i] - 1;

		if (!t->slots[i] || (t->refs[id].depth == depth &&
				     !memcmp(t->ips + t->refs[id].offset, ips, depth * sizeof(*ips))))
			return &t->slots[i];
	}
}

/* Double the slots when half full, re-inserting every stack. */
static int stack_rehash(struct stack_table *t)
{
	__u32 nslots = t->nslots ? t->nslots * 2 : 4096;
	__u32 *old = t->slots;

	if ((t->count + 1) * 2 <= t->nslots)
		return 0;
	t->slots = calloc(nslots, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->nslots = nslots;
	for (__u32 id = 0; id < t->count; id++) {
		const __u64 *ips = t->ips + t->refs[id].offset;
		__u32 depth = t->refs[id].depth;

		*stack_slot(t, ips, depth, hash_bytes(ips, depth * sizeof(*ips))) = id + 1;
	}
	free(old);
	return 0;
}

/* The id of this stack, added if new; -ENOSPC when the table is at its cap. */
static __s32 stack_intern(struct stack_table *t, const __u64 *ips, __u32 depth)
{
	__u64 hash = hash_bytes(ips, depth * sizeof(*ips));
	__u32 *slot;

	if (t->nslots) {
		slot = stack_slot(t, ips, depth, hash);
		if (*slot)
			return *slot - 1;
	}
	if (t->count >= MAX_STACKS)
		return -ENOSPC;
	if (stack_rehash(t) || grow((void **)&t->refs, sizeof(*t->refs), &t->refs_cap, t->count + 1))
		return -ENOMEM;
	if (t->ips_len + depth > t->ips_cap) {
		size_t cap = t->ips_cap ? t->ips_cap : 65536;
		__u64 *bigger;

		while (cap < t->ips_len + depth)
			cap *= 2;
		bigger = realloc(t->ips, cap * sizeof(*bigger));
		if (!bigger)
			return -ENOMEM;
		t->ips = bigger;
		t->ips_cap = cap;
	}
	memcpy(t->ips + t->ips_len, ips, depth * sizeof(*ips));
	t->refs[t->count].offset = t->ips_len;
	t->refs[t->count].depth = depth;
	t->ips_len += depth;
	*stack_slot(t, ips, depth, hash) = t->count + 1;
	return t->count++;
}

static void stack_table_free(struct stack_table *t)
{
	free(t->ips);
	free(t->refs);
	free(t->slots);
}

static __u64 key_hash(const struct sample_record *key)
{
	return hash_bytes(key, offsetof(struct sample_record, samples)) ^
	       hash_bytes(key->comm, sizeof(key->comm));
}

static struct sample_record *count_probe(struct count_table *t, const struct sample_record *key)
{
	__u32 mask = t->nslots - 1, i;

	for (i = key_hash(key) & mask;; i = (i + 1) & mask) {
		struct sample_record *r = &t->slots[i];

		if (!r->samples || (!memcmp(r, key, offsetof(struct sample_record, samples)) &&
				    !memcmp(r->comm, key->comm, sizeof(r->comm))))
			return r;
	}
}

/* The record counting this key (samples 0 when new); NULL when full or out of memory. */
static struct sample_record *count_slot(struct count_table *t, const struct sample_record *key)
{
	if ((t->len + 1) * 2 > t->nslots) {
		__u32 old_n = t->nslots, nslots = old_n ? old_n * 2 : 4096;
		struct sample_record *old = t->slots;

		if (t->len >= MAX_KEYS)
			return NULL;
		t->slots = calloc(nslots, sizeof(*t->slots));
		if (!t->slots) {
			t->slots = old;
			return NULL;
		}
		t->nslots = nslots;
		for (__u32 j = 0; j < old_n; j++)
			if (old[j].samples)
				*count_probe(t, &old[j]) = old[j];
		free(old);
	}
	return count_probe(t, key);
}

/* A stack id for the record: interned, EFAULT_ID for none, or the negative errno. */
static __s32 stack_id(struct profiler *p, const __u64 *ips, __s32 bytes)
{
	__u32 depth = bytes > 0 ? (__u32)bytes / sizeof(*ips) : 0;

	if (bytes < 0 && bytes != EFAULT_ID)
		return bytes; /* -ENOENT (not wanted) or another error, counted in BPF */
	while (depth && !ips[depth - 1])
		depth--; /* trailing zero ips */
	return depth ? stack_intern(&p->stacks, ips, depth > PROFILE_MAX_DEPTH ? PROFILE_MAX_DEPTH : depth)
		     : EFAULT_ID;
}

/* ring_buffer callback: count one sample; a new tgid gets its maps sent right away, so
 * short-lived processes keep their symbols. */
static int on_sample(void *ctx, void *data, size_t size)
{
	struct profiler *p = ctx;
	const struct profile_sample *s = data;
	struct sample_record key = { .tgid = s->tgid, .pid = s->pid }, *r;
	int err;

	if (size < sizeof(*s))
		return 0;
	key.kernel_stack_id = stack_id(p, s->kernel, s->kernel_bytes);
	key.user_stack_id = stack_id(p, s->user, s->user_bytes);
	/* Older kernels leave the bytes after the NUL as they were: zero them for the key. */
	memcpy(key.comm, s->comm, strnlen(s->comm, sizeof(s->comm)));
	r = key.kernel_stack_id == -ENOSPC || key.kernel_stack_id == -ENOMEM ||
	    key.user_stack_id == -ENOSPC || key.user_stack_id == -ENOMEM ? NULL : count_slot(&p->counts, &key);
	if (!r) {
		p->table_full++;
		return 0;
	}
	if (!r->samples) {
		*r = key;
		p->counts.len++;
	}
	r->samples++;
	p->samples++;
	if (!s->tgid)
		return 0; /* the idle task has no /proc entry */
	err = tgid_set_add(p, s->tgid);
	if (err == 1)
		err = send_process_maps(p, s->tgid);
	if (err < 0 && !p->error)
		p->error = err;
	return 0;
}

/* Count every sample waiting in the ring. */
static int drain(struct profiler *p)
{
	int n = ring_buffer__consume(p->ring);

	return n < 0 ? n : p->error;
}

/* ---- setup and sampling ---- */

static int open_load(struct profiler *p, const struct profile_options *opts)
{
	p->skel = profile_bpf__open();
	if (!p->skel)
		return -errno;
	p->skel->rodata->target_tgid = opts->pid;
	p->skel->rodata->target_cgroup_id = opts->cgroup_id;
	p->skel->rodata->want_kernel = opts->kernel;
	p->skel->rodata->want_user = opts->user;
	p->skel->rodata->include_idle = opts->include_idle;
	return profile_bpf__load(p->skel);
}

/* One perf event per online CPU, each running the program; returns the exit code. */
static int attach_all(struct profiler *p, __u32 hz)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = hz,
		.freq = 1,
	};
	int ncpus = libbpf_num_possible_cpus();

	if (ncpus < 0)
		return setup_failure("count the CPUs", ncpus);
	p->links = calloc(ncpus, sizeof(*p->links));
	if (!p->links)
		return setup_failure("allocate", -ENOMEM);
	for (int cpu = 0; cpu < ncpus; cpu++) {
		int fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		struct bpf_link *link;
		int err;

		if (fd < 0 && errno == ENODEV)
			continue; /* a possible but offline CPU */
		if (fd < 0) {
			err = -errno;
			if (err == -EINVAL)
				diag("perf_event_open on CPU %d failed: %s (is --hz %u above "
				     "/proc/sys/kernel/perf_event_max_sample_rate?)",
				     cpu, strerror(-err), hz);
			return err == -EINVAL ? EXIT_SENSOR_FAILED
					      : setup_failure("open a CPU-clock perf event", err);
		}
		link = bpf_program__attach_perf_event(p->skel->progs.profile_sample, fd);
		if (!link) {
			err = -errno;
			close(fd);
			return setup_failure("attach to a perf event", err);
		}
		p->links[p->nlinks++] = link;
	}
	return p->nlinks ? -1 : setup_failure("find an online CPU", -ENODEV);
}

/* Destroying a perf-event link disables the event and closes its fd. */
static void detach_all(struct profiler *p)
{
	for (int i = 0; i < p->nlinks; i++)
		bpf_link__destroy(p->links[i]);
	p->nlinks = 0;
}

static int watch(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

/* Sample for `seconds`, draining the ring every DRAIN_INTERVAL_MS (or sooner when it wakes
 * us). 0 when the time is up, FINISH_EARLY on SIGUSR1, STOPPED_EARLY on SIGTERM/SIGINT/stdin
 * EOF, or a negative errno. */
static int sample(struct profiler *p, int signal_fd, int finish_fd, __u32 seconds)
{
	double now = now_ms(), deadline = now + seconds * 1e3;
	struct epoll_event events[4];
	int epfd, err;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	err = watch(epfd, signal_fd);
	if (!err)
		err = watch(epfd, finish_fd);
	if (!err)
		err = watch(epfd, ring_buffer__epoll_fd(p->ring));
	if (!err) {
		err = watch(epfd, STDIN_FILENO);
		/* /dev/null, a regular file or a closed fd cannot be polled: that is EOF. */
		if (err == -EPERM || err == -EBADF)
			err = STOPPED_EARLY;
	}
	while (!err && (now = now_ms()) < deadline) {
		int timeout = (int)(deadline - now) + 1;
		int n = epoll_wait(epfd, events, ARRAY_SIZE(events),
				   timeout < DRAIN_INTERVAL_MS ? timeout : DRAIN_INTERVAL_MS);

		if (n < 0 && errno != EINTR)
			err = -errno;
		for (int i = 0; i < n; i++) {
			if (events[i].data.fd == finish_fd)
				err = FINISH_EARLY;
			else if (events[i].data.fd == signal_fd || (events[i].data.fd == STDIN_FILENO &&
								     loop_stdin_closed()))
				err = STOPPED_EARLY;
		}
		if (!err || err == FINISH_EARLY) {
			int drained = drain(p);

			err = drained < 0 ? drained : err;
		}
	}
	close(epfd);
	return err;
}

/* ---- the result ---- */

/* Appends records to one frame payload and writes it when the next would not fit. */
struct frame_buf {
	enum frame_kind kind;
	unsigned char *data;
	__u32 used, count;
};

static int frame_flush(struct frame_buf *f)
{
	int err = output_frame(f->kind, f->count, f->data, f->used);

	f->used = f->count = 0;
	return err;
}

static int frame_append(struct frame_buf *f, const void *a, __u32 alen, const void *b, __u32 blen)
{
	int err = 0;

	if (f->used + alen + blen > FRAME_MAX_PAYLOAD)
		err = frame_flush(f);
	memcpy(f->data + f->used, a, alen);
	if (blen)
		memcpy(f->data + f->used + alen, b, blen);
	f->used += alen + blen;
	f->count++;
	return err;
}

/* PROFILE_STACKS: every interned stack (each is referenced by a sample). Always one frame
 * at least, so the reader sees the section even when it is empty. */
static int write_stacks(struct profiler *p, struct frame_buf *f)
{
	const struct stack_table *t = &p->stacks;
	int err = 0;

	f->kind = FRAME_PROFILE_STACKS;
	for (__u32 id = 0; !err && id < t->count; id++) {
		struct { __s32 id; __u32 depth; } head = { id, t->refs[id].depth };

		err = frame_append(f, &head, sizeof(head), t->ips + t->refs[id].offset,
				   head.depth * sizeof(__u64));
	}
	return err ? err : frame_flush(f);
}

static int write_samples(struct profiler *p, struct frame_buf *f)
{
	int err = 0;

	f->kind = FRAME_PROFILE_SAMPLES;
	for (__u32 i = 0; !err && i < p->counts.nslots; i++)
		if (p->counts.slots[i].samples)
			err = frame_append(f, &p->counts.slots[i], sizeof(p->counts.slots[i]), NULL, 0);
	return err ? err : frame_flush(f);
}

/* Sum the per-CPU error counters into errors[PROFILE_ERR_SLOTS]. */
static int read_errors(struct profiler *p, __u64 *errors)
{
	int ncpus = libbpf_num_possible_cpus(), fd = bpf_map__fd(p->skel->maps.errors);
	__u64 *values;
	int err = 0;

	if (ncpus < 0)
		return ncpus;
	values = calloc(ncpus, sizeof(*values));
	if (!values)
		return -ENOMEM;
	for (__u32 slot = 0; !err && slot < PROFILE_ERR_SLOTS; slot++) {
		err = bpf_map_lookup_elem(fd, &slot, values);
		errors[slot] = 0;
		for (int cpu = 0; !err && cpu < ncpus; cpu++)
			errors[slot] += values[cpu];
	}
	free(values);
	return err;
}

static int write_done(const struct profiler *p, const struct profile_options *opts,
		      double duration_ms, int ncpus, bool early, const __u64 *errors)
{
	char json[512];
	int len = snprintf(json, sizeof(json),
			   "{\"hz\":%u,\"seconds\":%u,\"duration_ms\":%.0f,\"ncpus\":%d,"
			   "\"samples\":%llu,\"stopped_early\":%s,\"stack_errors\":{\"kernel_missing\":%llu,"
			   "\"user_missing\":%llu,\"lost\":%llu,\"other\":%llu}}",
			   opts->hz, opts->seconds, duration_ms, ncpus, (unsigned long long)p->samples,
			   early ? "true" : "false",
			   (unsigned long long)errors[PROFILE_ERR_KERNEL_MISSING],
			   (unsigned long long)errors[PROFILE_ERR_USER_MISSING],
			   (unsigned long long)(errors[PROFILE_ERR_LOST] + p->table_full),
			   (unsigned long long)errors[PROFILE_ERR_OTHER]);

	return output_frame(FRAME_PROFILE_DONE, 0, json, len);
}

/* Maps that could not be sent make frames unsymbolizable: tell the collector once. */
static int log_maps_problems(const struct profiler *p)
{
	int err = 0;

	if (p->maps_gone)
		err = announce_log("warn", "%llu process(es) exited before their maps were read; "
				   "their user frames cannot be symbolized",
				   (unsigned long long)p->maps_gone);
	if (!err && p->maps_unreadable)
		err = announce_log("warn", "maps of %llu process(es) unreadable: %s (reading other "
				   "users' /proc/PID/maps needs CAP_SYS_PTRACE)",
				   (unsigned long long)p->maps_unreadable, strerror(p->maps_error));
	if (!err && p->maps_truncated)
		err = announce_log("warn", "maps of %llu process(es) cut at 1 MiB",
				   (unsigned long long)p->maps_truncated);
	return err;
}

static int write_result(struct profiler *p, const struct profile_options *opts,
			double duration_ms, int ncpus, bool early)
{
	struct frame_buf f = { .data = malloc(FRAME_MAX_PAYLOAD) };
	__u64 errors[PROFILE_ERR_SLOTS];
	int err;

	if (!f.data)
		return -ENOMEM;
	/* Detached already: this drain sees every sample, and new tgids get their maps. */
	err = drain(p);
	if (!err)
		err = log_maps_problems(p);
	if (!err)
		err = write_stacks(p, &f);
	if (!err)
		err = write_samples(p, &f);
	if (!err)
		err = read_errors(p, errors);
	if (!err)
		err = write_done(p, opts, duration_ms, ncpus, early, errors);
	free(f.data);
	return err;
}

/* SIGUSR1 asks for the result now (an interrupted `bpfwasm profile` keeps its samples). */
static int finish_signal_fd(void)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

int profile_main(const struct profile_options *opts)
{
	struct profiler p = {};
	double start, duration_ms;
	int signal_fd, finish_fd, exit_code, ncpus, err;

	/* Blocked from here on, so a signal during load is seen once sampling starts. */
	signal_fd = loop_signal_fd();
	if (signal_fd < 0)
		return runtime_failure("signal setup", signal_fd);
	finish_fd = finish_signal_fd();
	if (finish_fd < 0) {
		close(signal_fd);
		return runtime_failure("signal setup", finish_fd);
	}
	p.maps_buf = malloc(FRAME_MAX_PAYLOAD);
	err = p.maps_buf ? 0 : -ENOMEM;
	if (!err)
		err = output_init(FRAME_MAX_PAYLOAD, signal_fd);
	if (!err)
		err = announce_hello_profile(opts);
	if (err) {
		exit_code = runtime_failure("setup", err);
		goto cleanup;
	}

	/* libbpf's warnings only matter if the load fails for a reason other than privileges. */
	diag_capture_begin();
	err = open_load(&p, opts);
	diag_capture_end(err && !missing_privilege(err));
	if (err) {
		exit_code = setup_failure("load", err);
		goto cleanup;
	}
	p.ring = ring_buffer__new(bpf_map__fd(p.skel->maps.samples), on_sample, &p, NULL);
	if (!p.ring) {
		exit_code = setup_failure("open the sample ring", -errno);
		goto cleanup;
	}
	exit_code = attach_all(&p, opts->hz);
	if (exit_code >= 0)
		goto cleanup;

	start = now_ms();
	err = sample(&p, signal_fd, finish_fd, opts->seconds);
	ncpus = p.nlinks;
	detach_all(&p);
	duration_ms = now_ms() - start;
	if (err == STOPPED_EARLY) {
		exit_code = EXIT_CLEAN; /* the client is gone: no result */
		goto cleanup;
	}
	if (!err || err == FINISH_EARLY)
		err = write_result(&p, opts, duration_ms, ncpus, err == FINISH_EARLY);
	exit_code = err ? runtime_failure("sampling", err) : EXIT_CLEAN;

cleanup:
	detach_all(&p);
	free(p.links);
	ring_buffer__free(p.ring);
	profile_bpf__destroy(p.skel);
	stack_table_free(&p.stacks);
	free(p.counts.slots);
	free(p.maps_sent);
	free(p.maps_buf);
	output_free();
	close(finish_fd);
	close(signal_fd);
	return exit_code;
}
