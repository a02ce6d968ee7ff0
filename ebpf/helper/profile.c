/* Profile mode: a software CPU-clock perf event per online CPU runs profile.bpf.c, which
 * counts stacks in maps. While it samples, this file only sends the maps of processes it
 * has not seen yet (every 50 ms); at the end it reads the maps once into PROFILE_STACKS,
 * PROFILE_SAMPLES and PROFILE_DONE frames. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
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

#define SCAN_INTERVAL_MS 50
#define MAPS_HEADER 8		/* u32 tgid, u32 0 before the text of /proc/TGID/maps */
#define STOPPED_EARLY 1		/* sample(): SIGTERM, SIGINT or stdin EOF */

/* A PROFILE_SAMPLES record. */
struct sample_record {
	__u32 tgid;
	__u32 pid;
	__s32 kernel_stack_id;
	__s32 user_stack_id;
	__u64 samples;
	char comm[PROFILE_COMM_LEN];
};
_Static_assert(sizeof(struct sample_record) == 40, "PROFILE_SAMPLES record layout");

struct profiler {
	struct profile_bpf *skel;
	struct bpf_link **links; /* one per online CPU; each owns its perf event fd */
	int nlinks;
	/* The counts map read in one piece: the 50 ms scan and the final read share it. */
	struct profile_key *keys;
	__u64 *values;
	size_t nentries;
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

/* Read every (key, count) of the counts map into p->keys/values with batch lookups. */
static int read_counts(struct profiler *p)
{
	int fd = bpf_map__fd(p->skel->maps.counts);
	struct profile_key token_in, token_out; /* hash batch tokens fit in a key */
	void *in = NULL;
	int err;

	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	p->nentries = 0;
	while (p->nentries < PROFILE_COUNT_ENTRIES) {
		__u32 count = PROFILE_COUNT_ENTRIES - p->nentries;

		err = bpf_map_lookup_batch(fd, in, &token_out, p->keys + p->nentries,
					   p->values + p->nentries, &count, &opts);
		if (err && err != -ENOENT)
			return err;
		p->nentries += count;
		if (err == -ENOENT)
			break; /* the last batch */
		token_in = token_out;
		in = &token_in;
	}
	return 0;
}

/* Send PROCESS_MAPS for every tgid in the counts map not sent yet. */
static int send_new_maps(struct profiler *p)
{
	int err = read_counts(p);

	for (size_t i = 0; !err && i < p->nentries; i++) {
		__u32 tgid = p->keys[i].tgid;

		if (!tgid)
			continue; /* the idle task has no /proc entry */
		err = tgid_set_add(p, tgid);
		if (err == 1)
			err = send_process_maps(p, tgid);
	}
	return err < 0 ? err : 0;
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

/* Sample for `seconds`, sending new maps every SCAN_INTERVAL_MS. 0 when the time is up,
 * STOPPED_EARLY on SIGTERM/SIGINT/stdin EOF, or a negative errno. */
static int sample(struct profiler *p, int signal_fd, __u32 seconds)
{
	double now = now_ms(), deadline = now + seconds * 1e3, next_scan = now + SCAN_INTERVAL_MS;
	struct epoll_event events[2];
	int epfd, err;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	err = watch(epfd, signal_fd);
	if (!err) {
		err = watch(epfd, STDIN_FILENO);
		/* /dev/null, a regular file or a closed fd cannot be polled: that is EOF. */
		if (err == -EPERM || err == -EBADF)
			err = STOPPED_EARLY;
	}
	while (!err && (now = now_ms()) < deadline) {
		int n, timeout;

		if (now >= next_scan) {
			err = send_new_maps(p);
			next_scan = now + SCAN_INTERVAL_MS;
			continue;
		}
		timeout = (int)((next_scan < deadline ? next_scan : deadline) - now) + 1;
		n = epoll_wait(epfd, events, ARRAY_SIZE(events), timeout);
		if (n < 0 && errno != EINTR)
			err = -errno;
		for (int i = 0; i < n; i++)
			if (events[i].data.fd == signal_fd || loop_stdin_closed())
				err = STOPPED_EARLY;
	}
	close(epfd);
	return err;
}

/* ---- the result ---- */

static int compare_ids(const void *a, const void *b)
{
	__s32 x = *(const __s32 *)a, y = *(const __s32 *)b;

	return (x > y) - (x < y);
}

/* Every stack id the samples refer to, sorted and unique, into ids; their number. */
static size_t referenced_stack_ids(const struct profiler *p, __s32 *ids)
{
	size_t n = 0, unique = 0;

	for (size_t i = 0; i < p->nentries; i++) {
		if (p->keys[i].kernel_stack_id >= 0)
			ids[n++] = p->keys[i].kernel_stack_id;
		if (p->keys[i].user_stack_id >= 0)
			ids[n++] = p->keys[i].user_stack_id;
	}
	qsort(ids, n, sizeof(*ids), compare_ids);
	for (size_t i = 0; i < n; i++)
		if (!unique || ids[unique - 1] != ids[i])
			ids[unique++] = ids[i];
	return unique;
}

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

/* PROFILE_STACKS: every referenced stack, trailing zero ips trimmed. Always one frame at
 * least, so the reader sees the section even when it is empty. */
static int write_stacks(struct profiler *p, struct frame_buf *f)
{
	int fd = bpf_map__fd(p->skel->maps.stacks);
	__s32 *ids = malloc(2 * p->nentries * sizeof(*ids) + 1);
	__u64 ips[PROFILE_MAX_DEPTH];
	size_t nids;
	int err = 0;

	if (!ids)
		return -ENOMEM;
	nids = referenced_stack_ids(p, ids);
	f->kind = FRAME_PROFILE_STACKS;
	for (size_t i = 0; !err && i < nids; i++) {
		struct { __s32 id; __u32 depth; } head = { ids[i], PROFILE_MAX_DEPTH };

		err = bpf_map_lookup_elem(fd, &ids[i], ips);
		if (err == -ENOENT) {
			head.depth = 0; /* cannot happen without BPF_F_REUSE_STACKID; keep the id */
			err = 0;
		}
		while (head.depth && !ips[head.depth - 1])
			head.depth--;
		if (!err)
			err = frame_append(f, &head, sizeof(head), ips, head.depth * sizeof(__u64));
	}
	free(ids);
	return err ? err : frame_flush(f);
}

static int write_samples(struct profiler *p, struct frame_buf *f, __u64 *total)
{
	int err = 0;

	f->kind = FRAME_PROFILE_SAMPLES;
	*total = 0;
	for (size_t i = 0; !err && i < p->nentries; i++) {
		const struct profile_key *k = &p->keys[i];
		struct sample_record rec = {
			.tgid = k->tgid,
			.pid = k->pid,
			.kernel_stack_id = k->kernel_stack_id,
			.user_stack_id = k->user_stack_id,
			.samples = p->values[i],
		};

		memcpy(rec.comm, k->comm, sizeof(rec.comm));
		*total += rec.samples;
		err = frame_append(f, &rec, sizeof(rec), NULL, 0);
	}
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

static int write_done(const struct profile_options *opts, double duration_ms, int ncpus,
		      __u64 samples, const __u64 *errors)
{
	char json[512];
	int len = snprintf(json, sizeof(json),
			   "{\"hz\":%u,\"seconds\":%u,\"duration_ms\":%.0f,\"ncpus\":%d,"
			   "\"samples\":%llu,\"stack_errors\":{\"kernel_missing\":%llu,"
			   "\"user_missing\":%llu,\"collisions\":%llu,\"other\":%llu}}",
			   opts->hz, opts->seconds, duration_ms, ncpus, (unsigned long long)samples,
			   (unsigned long long)errors[PROFILE_ERR_KERNEL_MISSING],
			   (unsigned long long)errors[PROFILE_ERR_USER_MISSING],
			   (unsigned long long)errors[PROFILE_ERR_COLLISIONS],
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
			double duration_ms, int ncpus)
{
	struct frame_buf f = { .data = malloc(FRAME_MAX_PAYLOAD) };
	__u64 errors[PROFILE_ERR_SLOTS], samples;
	int err;

	if (!f.data)
		return -ENOMEM;
	/* Detached already: this read sees every sample, and new tgids get their maps. */
	err = send_new_maps(p);
	if (!err)
		err = log_maps_problems(p);
	if (!err)
		err = write_stacks(p, &f);
	if (!err)
		err = write_samples(p, &f, &samples);
	if (!err)
		err = read_errors(p, errors);
	if (!err)
		err = write_done(opts, duration_ms, ncpus, samples, errors);
	free(f.data);
	return err;
}

int profile_main(const struct profile_options *opts)
{
	struct profiler p = {};
	double start, duration_ms;
	int signal_fd, exit_code, ncpus, err;

	/* Blocked from here on, so a signal during load is seen once sampling starts. */
	signal_fd = loop_signal_fd();
	if (signal_fd < 0)
		return runtime_failure("signal setup", signal_fd);
	p.keys = calloc(PROFILE_COUNT_ENTRIES, sizeof(*p.keys));
	p.values = calloc(PROFILE_COUNT_ENTRIES, sizeof(*p.values));
	p.maps_buf = malloc(FRAME_MAX_PAYLOAD);
	err = p.keys && p.values && p.maps_buf ? 0 : -ENOMEM;
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
	exit_code = attach_all(&p, opts->hz);
	if (exit_code >= 0)
		goto cleanup;

	start = now_ms();
	err = sample(&p, signal_fd, opts->seconds);
	ncpus = p.nlinks;
	detach_all(&p);
	duration_ms = now_ms() - start;
	if (err == STOPPED_EARLY) {
		exit_code = EXIT_CLEAN; /* the client is gone: no result */
		goto cleanup;
	}
	if (!err)
		err = write_result(&p, opts, duration_ms, ncpus);
	exit_code = err ? runtime_failure("sampling", err) : EXIT_CLEAN;

cleanup:
	detach_all(&p);
	free(p.links);
	profile_bpf__destroy(p.skel);
	free(p.keys);
	free(p.values);
	free(p.maps_sent);
	free(p.maps_buf);
	output_free();
	close(signal_fd);
	return exit_code;
}
