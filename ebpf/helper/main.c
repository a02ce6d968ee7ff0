/* bpfwasm-helper: loads the eBPF sensors and streams their records to the collector
 * over stdout (ebpf/PROTOCOL.md). This file is the lifecycle: check, announce, load,
 * attach, loop, report, clean up. --profile hands over to profile.c instead. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aggregate.h"
#include "announce.h"
#include "check.h"
#include "helper.h"
#include "loop.h"
#include "options.h"
#include "output.h"
#include "probe.h"
#include "profile.h"
#include "sensors.h"
#include "stats.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	return output_record(data, size);
}

/* EPERM/EACCES also come from the verifier: only missing capabilities mean exit 3. */
static bool missing_privilege(int err)
{
	return (err == -EPERM || err == -EACCES) && !caps_allow_tracing();
}

/* Exit code for a failed load or attach, after its one stderr line. */
static int sensor_failure(const struct sensor *s, int err)
{
	if (missing_privilege(err)) {
		diag("sensor '%s' failed to %s: needs CAP_BPF and CAP_PERFMON: run as root or "
		     "grant them, e.g. setcap cap_bpf,cap_perfmon+ep <helper>",
		     s->def->name, s->failed_step);
		return EXIT_NO_PRIVILEGE;
	}
	diag("sensor '%s' failed to %s: %s", s->def->name, s->failed_step, strerror(-err));
	return EXIT_SENSOR_FAILED;
}

/* Exit code for a failure after startup checks, after its one stderr line. */
static int runtime_failure(const char *what, int err)
{
	if (err == -ECANCELED)
		return EXIT_CLEAN; /* SIGTERM while the reader was stuck: stop without a report */
	if (output_error()) {
		diag("writing frames to stdout failed: %s", strerror(-output_error()));
		return EXIT_OUTPUT_FAILED;
	}
	diag("%s failed: %s", what, strerror(-err));
	return EXIT_SENSOR_FAILED;
}

int main(int argc, char **argv)
{
	struct sensor sensors[SENSORS_MAX] = {};
	struct ring_buffer *rb = NULL;
	int ring_fds[SENSORS_MAX];
	struct options opts;
	size_t opened = 0;
	double start, load_ms, attach_ms;
	int exit_code, signal_fd = -1, err;

	/* --check stands alone: it probes the kernel and needs none of the streaming options. */
	if (argc == 2 && !strcmp(argv[1], "--check"))
		return check_main();
	exit_code = options_parse(argc, argv, &opts);
	if (exit_code >= 0)
		return exit_code;

	/* A vanished reader must show up as EPIPE from write, not kill us silently. */
	signal(SIGPIPE, SIG_IGN);
	diag_route_libbpf();
	/* perf_event programs need no kernel BTF: profile mode skips that check. */
	if (opts.profile)
		return profile_main(&opts.prof);

	if (access(KERNEL_BTF_PATH, R_OK)) {
		diag("kernel BTF not found at " KERNEL_BTF_PATH "; remedy: run a kernel built with "
		     "CONFIG_DEBUG_INFO_BTF=y");
		return EXIT_NO_BTF;
	}

	/* Blocked from here on, so a signal during load is handled once the loop runs. */
	signal_fd = loop_signal_fd();
	if (signal_fd < 0) {
		exit_code = runtime_failure("signal setup", signal_fd);
		goto cleanup;
	}
	err = output_init(opts.batch_bytes, signal_fd);
	if (opts.sink_null)
		output_discard_records();
	for (size_t i = 0; !err && i < opts.nsensors; i++)
		for (const struct record_def *r = opts.sensors[i]->records; !err && r->type; r++)
			err = output_add_record_type(r->type, r->size);
	if (err) {
		exit_code = runtime_failure("output setup", err);
		goto cleanup;
	}
	err = announce_hello(opts.sensors, opts.nsensors);
	if (err) {
		exit_code = runtime_failure("HELLO", err);
		goto cleanup;
	}

	/* libbpf's warnings are held back: they only matter if the load fails for a reason
	 * other than privileges (e.g. the verifier log). */
	start = now_ms();
	diag_capture_begin();
	for (err = 0; !err && opened < opts.nsensors; opened++)
		err = sensor_open_load(&sensors[opened], opts.sensors[opened],
				       options_ring_bytes(&opts, opts.sensors[opened]),
				       opts.wakeup_bytes, opts.settings, opts.nsettings,
				       options_route(&opts, opts.sensors[opened]));
	probe_free(); /* libbpf parses the kernel BTF on its own; the probes are done */
	if (err) {
		diag_capture_end(!missing_privilege(err) && !sensors[opened - 1].bad_setting);
		exit_code = sensors[opened - 1].bad_setting ? EXIT_USAGE
							     : sensor_failure(&sensors[opened - 1], err);
		goto cleanup;
	}
	diag_capture_end(true);
	load_ms = now_ms() - start;

	start = now_ms();
	for (size_t i = 0; i < opened; i++) {
		err = sensor_attach(&sensors[i]);
		if (err) {
			exit_code = sensor_failure(&sensors[i], err);
			goto cleanup;
		}
	}
	attach_ms = now_ms() - start;

	rb = sensors_ring_buffer(sensors, opened, on_record);
	if (!rb) {
		exit_code = runtime_failure("ring buffer setup", -errno);
		goto cleanup;
	}
	err = stats_init(sensors, opened);
	if (err) {
		exit_code = runtime_failure("stats setup", err);
		goto cleanup;
	}
	err = aggregate_init(sensors, opened);
	if (err) {
		exit_code = err == -EINVAL || err == -ENOENT ? EXIT_SENSOR_FAILED
							      : runtime_failure("aggregate setup", err);
		goto cleanup;
	}
	for (size_t i = 0; i < opened; i++)
		ring_fds[i] = bpf_map__fd(sensors[i].events);
	err = announce_ready(load_ms, attach_ms, opts.sensors, opts.nsensors);
	if (!err)
		err = loop_run(rb, ring_fds, opened, signal_fd, opts.poll_ms, opts.stats_ms,
			       opts.aggregate_ms);
	/* Final report: whatever is still in the rings and maps, then the cumulative STATS. */
	if (!err) {
		err = ring_buffer__consume(rb);
		err = err < 0 ? err : aggregate_drain();
		err = err < 0 ? err : stats_write();
	}
	exit_code = err ? runtime_failure("event loop", err) : EXIT_CLEAN;

cleanup:
	ring_buffer__free(rb);
	aggregate_free();
	stats_free();
	for (size_t i = 0; i < opened; i++)
		sensor_destroy(&sensors[i]);
	output_free();
	if (signal_fd >= 0)
		close(signal_fd);
	return exit_code;
}
