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

/* Exit code for a failed load or attach that stops the helper, after its one stderr line. */
static int sensor_failure(const struct sensor *s, int err, const char *error)
{
	if (missing_privilege(err)) {
		diag("sensor '%s' failed to %s: needs CAP_BPF and CAP_PERFMON: run as root or "
		     "grant them, e.g. setcap cap_bpf,cap_perfmon+ep <helper>",
		     s->def->name, s->failed_step);
		return EXIT_NO_PRIVILEGE;
	}
	diag("required sensor '%s' failed to %s: %s", s->def->name, s->failed_step,
	     *error ? error : strerror(-err));
	return EXIT_SENSOR_FAILED;
}

/* Open, load and attach one sensor, adding to the load and attach times. On failure, a
 * negative errno and the first meaningful line of libbpf's output in `error`. */
static int start_sensor(struct sensor *s, const struct options *opts, const struct sensor_def *def,
			double *load_ms, double *attach_ms, char *error, size_t size)
{
	double start = now_ms();
	int err;

	/* libbpf's warnings are held back: they only matter if this sensor fails for a reason
	 * other than privileges (e.g. the verifier log). */
	diag_capture_begin();
	err = sensor_open_load(s, def, options_ring_bytes(opts, def), options_wakeup_bytes(opts, def),
			       opts->poll_ms, opts->settings, opts->nsettings, options_route(opts, def));
	*load_ms += now_ms() - start;
	if (!err) {
		start = now_ms();
		err = sensor_attach(s);
		*attach_ms += now_ms() - start;
	}
	error[0] = '\0';
	if (err && s->route_error[0])
		snprintf(error, size, "%s", s->route_error);
	else if (err)
		diag_capture_first_error(error, size);
	diag_capture_end(err && !missing_privilege(err) && !s->bad_setting);
	return err;
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
	struct sensor_failure failed[SENSORS_MAX];
	struct ring_buffer *rb = NULL;
	int ring_fds[SENSORS_MAX];
	struct options opts;
	size_t nattached = 0, nfailed = 0;
	double load_ms = 0, attach_ms = 0;
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

	/* Each sensor on its own: one that fails is left off, reported, and costs the others
	 * nothing, unless --require names it. */
	for (size_t i = 0; i < opts.nsensors; i++) {
		struct sensor *s = &sensors[nattached];
		struct sensor_failure *f = &failed[nfailed];

		*s = (struct sensor){ .id = i, .unloadable = opts.sensors[i] == opts.unloadable };
		err = start_sensor(s, &opts, opts.sensors[i], &load_ms, &attach_ms, f->error,
				   sizeof(f->error));
		if (!err) {
			nattached++;
			continue;
		}
		if (s->bad_setting || missing_privilege(err) || options_required(&opts, s->def)) {
			exit_code = s->bad_setting ? EXIT_USAGE : sensor_failure(s, err, f->error);
			sensor_destroy(s);
			goto cleanup;
		}
		f->def = s->def;
		f->step = s->failed_step;
		f->err = -err;
		f->route = s->route;
		if (!f->error[0])
			snprintf(f->error, sizeof(f->error), "%s", strerror(-err));
		sensor_destroy(s);
		nfailed++;
		diag("sensor '%s' off: %s: %s", f->def->name, f->step, f->error);
		err = announce_log("warn", "sensor %s off: %s: %s", f->def->name, f->step, f->error);
		if (err) {
			exit_code = runtime_failure("LOG", err);
			goto cleanup;
		}
	}
	probe_free(); /* the probes and every sensor's load are done with the kernel BTF */

	/* With every sensor off there is no ring: the helper still reports READY and runs. */
	rb = nattached ? sensors_ring_buffer(sensors, nattached, on_record) : NULL;
	if (nattached && !rb) {
		exit_code = runtime_failure("ring buffer setup", -errno);
		goto cleanup;
	}
	err = stats_init(sensors, nattached);
	if (err) {
		exit_code = runtime_failure("stats setup", err);
		goto cleanup;
	}
	err = aggregate_init(sensors, nattached);
	if (err) {
		exit_code = err == -EINVAL || err == -ENOENT ? EXIT_SENSOR_FAILED
							      : runtime_failure("aggregate setup", err);
		goto cleanup;
	}
	for (size_t i = 0; i < nattached; i++)
		ring_fds[i] = bpf_map__fd(sensors[i].events);
	err = announce_ready(load_ms, attach_ms, sensors, nattached, failed, nfailed);
	if (!err)
		err = loop_run(rb, ring_fds, nattached, signal_fd, opts.poll_ms, opts.busy_poll_ms,
			       opts.stats_ms, opts.aggregate_ms);
	/* Final report: whatever is still in the rings and maps, then the cumulative STATS. The
	 * programs are detached first, so nothing is submitted after the last read and the
	 * report adds up exactly (written = submitted). */
	if (!err) {
		for (size_t i = 0; i < nattached; i++)
			sensor_detach(&sensors[i]);
		err = rb ? ring_buffer__consume(rb) : 0;
		err = err < 0 ? err : aggregate_drain();
		err = err < 0 ? err : stats_write();
	}
	exit_code = err ? runtime_failure("event loop", err) : EXIT_CLEAN;

cleanup:
	ring_buffer__free(rb);
	aggregate_free();
	stats_free();
	for (size_t i = 0; i < nattached; i++)
		sensor_destroy(&sensors[i]);
	output_free();
	if (signal_fd >= 0)
		close(signal_fd);
	return exit_code;
}
