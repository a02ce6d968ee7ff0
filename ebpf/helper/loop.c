/* Event loop. Every wakeup and every timeout drains the rings and flushes the batches.
 * The BPF side wakes us once --wakeup-bytes are waiting, or for a record after a quiet
 * spell (bpfwasm.bpf.h); how long we wait otherwise is the pace below (PROTOCOL.md,
 * "When the helper flushes"). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "aggregate.h"
#include "helper.h"
#include "loop.h"
#include "output.h"
#include "stats.h"

enum source { SOURCE_RING, SOURCE_STDIN, SOURCE_SIGNAL, SOURCE_TIMER, SOURCE_AGGREGATE };

/* A record after a quiet spell wakes us at once, but the few right behind it (a fork's
 * exec and exit) do not: after such a wakeup the next polls come this soon, through the
 * poll_ms in which the BPF side lets no other CPU's quiet record wake us (a big parent's
 * exec can come 3-5 ms after its fork, on the other CPU), up to this many. */
#define LINGER_MS 1
#define LINGER_MAX_POLLS 5
/* Polls in a row that found records before a stream's longer wait applies. */
#define STREAM_POLLS 2
/* A stream's wait doubles (up to busy_poll_ms) while its rate is at least this many records
 * a second: a busy stream comes in few, big frames, while a light one (a node's background
 * churn) keeps the short wait: were any record enough, a longer wait would find one more
 * often, and a trickle would hold the longest wait for good. */
#define STREAM_GROW_PER_S 1000

/* How long the next wait may last. */
struct pace {
	__u32 poll_ms;
	__u32 busy_poll_ms;
	int linger;	     /* LINGER_MS polls left after a quiet-spell wakeup */
	int found_in_a_row; /* polls in a row that found records, lingering ones aside */
	__u32 stream_ms;     /* the wait while a stream lasts, 0 when none does */
	__u64 drained_ns;    /* CLOCK_MONOTONIC at the start of the last drain */
	__u64 found_ns;      /* ... and at the end of the last one that found records */
};

static __u64 monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static __u32 min_u32(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

static int pace_timeout_ms(const struct pace *p)
{
	if (p->linger > 0)
		return min_u32(LINGER_MS, p->poll_ms);
	if (p->stream_ms)
		return p->stream_ms;
	/* Idle: nothing found for poll_ms, so every CPU's last record is older than that and the
	 * next record anywhere follows a quiet spell, which wakes us: no need to poll (the STATS
	 * timer, a signal or stdin still end the wait). */
	if (!p->found_in_a_row && (__s64)(p->drained_ns - p->found_ns) >= (__s64)p->poll_ms * 1000000)
		return -1;
	return p->poll_ms;
}

/* After a drain that `started` then: `woken` by a ring, `found` records. A ring wakeup
 * while nothing came in before is the BPF side's quiet-spell one (or a burst past the
 * threshold): linger. A stream
 * waits 4 x poll_ms, doubled per poll while its rate holds (fewer, bigger frames; the
 * threshold still wakes us as soon as it fills), back to 4 x poll_ms when it drops. */
static void pace_update(struct pace *p, bool woken, int found, __u64 started)
{
	__u64 waited_ns = started - p->drained_ns;

	p->drained_ns = started;
	if (found)
		p->found_ns = monotonic_ns();
	if (p->linger > 0) {
		p->linger--;
		return;
	}
	if (woken && found && !p->found_in_a_row) {
		p->linger = (int)min_u32(p->poll_ms / LINGER_MS, LINGER_MAX_POLLS);
		return;
	}
	p->found_in_a_row = found ? p->found_in_a_row + 1 : 0;
	if (p->found_in_a_row < STREAM_POLLS)
		p->stream_ms = 0;
	/* The rate over the wait just ended: a timer (STATS) may have cut it short. */
	else if (p->stream_ms && (__u64)found * 1000000000ull >= (__u64)STREAM_GROW_PER_S * waited_ns)
		p->stream_ms = min_u32(2 * p->stream_ms, p->busy_poll_ms);
	else
		p->stream_ms = min_u32(4 * p->poll_ms, p->busy_poll_ms);
}

int loop_signal_fd(void)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

static int watch_events(int epfd, int fd, enum source source, __u32 events)
{
	struct epoll_event ev = { .events = events, .data.u32 = source };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int watch(int epfd, int fd, enum source source)
{
	return watch_events(epfd, fd, source, EPOLLIN);
}

/* (Re)starts a periodic timer: the first expiry one period from now; expiries not yet read are dropped. */
static int arm_timer(int fd, __u32 period_ms)
{
	struct itimerspec period = {
		.it_interval = { period_ms / 1000, (period_ms % 1000) * 1000000L },
		.it_value = { period_ms / 1000, (period_ms % 1000) * 1000000L },
	};

	return timerfd_settime(fd, 0, &period, NULL) ? -errno : 0;
}

static int start_timer(__u32 period_ms)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	int err;

	if (fd < 0)
		return -errno;
	err = arm_timer(fd, period_ms);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Whether the timer expires within `ms` from now. */
static bool timer_due_within(int fd, __u32 ms)
{
	struct itimerspec left;

	if (timerfd_gettime(fd, &left))
		return false;
	return (__u64)left.it_value.tv_sec * 1000 + left.it_value.tv_nsec / 1000000 <= ms;
}

/* Control input is not defined yet: drain and ignore it; EOF means shut down. */
bool loop_stdin_closed(void)
{
	char buf[256];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	return n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
}

struct due {
	bool stop;
	bool stats;
	bool aggregate;
	bool ring;
};

/* Handle one ready source: note what is now due. */
static void handle(enum source source, int signal_fd, int timer_fd, int aggregate_fd, struct due *due)
{
	struct signalfd_siginfo si;
	uint64_t expirations;

	switch (source) {
	case SOURCE_RING:
		due->ring = true; /* drained after every wakeup anyway */
		break;
	case SOURCE_STDIN:
		due->stop |= loop_stdin_closed();
		break;
	case SOURCE_SIGNAL:
		due->stop |= read(signal_fd, &si, sizeof(si)) == sizeof(si);
		break;
	case SOURCE_TIMER:
		due->stats |= read(timer_fd, &expirations, sizeof(expirations)) > 0;
		break;
	case SOURCE_AGGREGATE:
		due->aggregate |= read(aggregate_fd, &expirations, sizeof(expirations)) > 0;
		break;
	}
}

/* A periodic report (STATS, aggregated records): its timer and period. */
struct periodic {
	int fd; /* -1: none */
	__u32 ms;
};

/*
 * Whether a report due within the longest wait before the next flush (busyPollMs, at most half
 * its period) goes with this one; if so its period starts again from now.
 */
static bool due_before_next_flush(const struct periodic *p, __u32 busy_poll_ms)
{
	return p->fd >= 0 && timer_due_within(p->fd, min_u32(busy_poll_ms, p->ms / 2)) && !arm_timer(p->fd, p->ms);
}

/*
 * Writes what the rings gave, and the reports that are due. While records flow (a stream's
 * flushes every busyPollMs at most), the reports due before the next flush go with this one:
 * under a stream neither STATS nor the aggregates' drain wakes this helper, nor the collector,
 * on its own (an exec storm made 6 flushes a second instead of 5).
 */
static int flush(const struct due *due, const struct periodic *stats, const struct periodic *aggregate, __u32 busy_poll_ms)
{
	bool stream = output_pending();
	int err = 0;

	if (due->aggregate)
		err = aggregate_drain();
	else if (stream && due_before_next_flush(aggregate, busy_poll_ms)) {
		/* The records first: reading every aggregate map would hold back a lone event's frame. */
		err = output_flush();
		if (!err)
			err = aggregate_drain();
	}
	if (err)
		return err;
	if (due->stats || (stream && due_before_next_flush(stats, busy_poll_ms)))
		return stats_write(); /* after the pending EVENTS frames */
	return output_flush();
}

int loop_run(struct ring_buffer *rb, const int *ring_fds, size_t nrings, int signal_fd,
	     __u32 poll_ms, __u32 busy_poll_ms, __u32 stats_ms, __u32 aggregate_ms)
{
	struct pace pace = { .poll_ms = poll_ms, .busy_poll_ms = busy_poll_ms };
	struct epoll_event events[8];
	bool stop = false;
	int epfd, timer_fd = -1, aggregate_fd = -1, err;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -errno;
	timer_fd = start_timer(stats_ms);
	err = timer_fd < 0 ? timer_fd : 0;
	/* Edge-triggered: a ring is readable as soon as it holds one record, so level-triggered
	 * epoll would return at once after every drain under steady load and the helper would
	 * chase the producer record by record; with EPOLLET only the BPF side's wakeups
	 * (threshold, or a record after a quiet spell) and the timeout end the wait. */
	for (size_t i = 0; !err && i < nrings; i++)
		err = watch_events(epfd, ring_fds[i], SOURCE_RING, EPOLLIN | EPOLLET);
	if (!err)
		err = watch(epfd, signal_fd, SOURCE_SIGNAL);
	if (!err)
		err = watch(epfd, timer_fd, SOURCE_TIMER);
	if (!err && aggregate_any()) {
		aggregate_fd = start_timer(aggregate_ms);
		err = aggregate_fd < 0 ? aggregate_fd : watch(epfd, aggregate_fd, SOURCE_AGGREGATE);
	}
	if (!err) {
		err = watch(epfd, STDIN_FILENO, SOURCE_STDIN);
		/* /dev/null, a regular file or a closed fd cannot be polled: that is EOF. */
		if (err == -EPERM || err == -EBADF) {
			stop = true;
			err = 0;
		}
	}
	if (err)
		goto cleanup;

	while (!stop) {
		struct due due = {};
		__u64 started;
		int n = epoll_wait(epfd, events, ARRAY_SIZE(events), pace_timeout_ms(&pace));

		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		for (int i = 0; i < n; i++)
			handle(events[i].data.u32, signal_fd, timer_fd, aggregate_fd, &due);
		stop = due.stop;

		started = monotonic_ns();
		err = rb ? ring_buffer__consume(rb) : 0; /* NULL: every sensor is off */
		if (err < 0)
			break;
		pace_update(&pace, due.ring, err, started);
		err = flush(&due, &(struct periodic){ timer_fd, stats_ms }, &(struct periodic){ aggregate_fd, aggregate_ms },
			    pace.busy_poll_ms);
		if (err)
			break;
	}
cleanup:
	if (aggregate_fd >= 0)
		close(aggregate_fd);
	if (timer_fd >= 0)
		close(timer_fd);
	close(epfd);
	return err < 0 ? err : 0;
}
