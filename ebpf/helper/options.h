/* Command line (PROTOCOL.md "Command line"). */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "sensors.h"

/* --profile and its options (PROTOCOL.md "Profile mode"). */
struct profile_options {
	__u32 hz;
	__u32 seconds;
	__u32 pid;	  /* target tgid, 0: every process */
	__u64 cgroup_id;  /* 0: every cgroup */
	bool kernel;	  /* kernel stacks (--no-kernel clears) */
	bool user;	  /* user stacks (--no-user clears) */
	bool include_idle;
};

#define OPTIONS_MAX_SETTINGS 64

/* --set SENSOR.VAR=VALUE: a rodata variable to change before load (settings.c). */
struct sensor_setting {
	const struct sensor_def *sensor;
	const char *var;
	const char *value;
};

/* --ring SENSOR=BYTES: that sensor's ring size instead of its default. */
struct sensor_ring {
	const struct sensor_def *sensor;
	__u32 bytes;
};

/* --route SENSOR=ROUTE: force one of the sensor's routes (or "auto"). */
struct sensor_route_choice {
	const struct sensor_def *sensor;
	const char *route;
};

struct options {
	bool profile; /* --profile: sample stacks (profile) instead of streaming (the rest) */
	struct profile_options prof;
	const struct sensor_def *sensors[SENSORS_MAX]; /* in --sensors order: sensor ids */
	size_t nsensors;
	__u32 ring_bytes;
	__u32 wakeup_bytes; /* 0: a quarter of each sensor's ring (options_wakeup_bytes) */
	__u32 poll_ms;
	__u32 busy_poll_ms; /* 0 until parsed: 20 x poll_ms unless given */
	__u32 stats_ms;
	__u32 batch_bytes;
	__u32 aggregate_ms;
	bool sink_null; /* --sink null: read and count records, send none */
	struct sensor_setting settings[OPTIONS_MAX_SETTINGS];
	size_t nsettings;
	struct sensor_ring rings[SENSORS_MAX];
	size_t nrings;
	/* --require: sensors whose failure stops the helper (exit 4); any other one that fails
	 * is left off and reported in LOG and READY. */
	const struct sensor_def *required[SENSORS_MAX];
	size_t nrequired;
	const struct sensor_def *unloadable; /* --test-unloadable (tests only) */
	struct sensor_route_choice routes[SENSORS_MAX];
	size_t nroutes;
};

/* Whether --require names this sensor. */
bool options_required(const struct options *opts, const struct sensor_def *def);

/* The ring size for a sensor: --ring, else the sensor's own default, else --ring-bytes. */
__u32 options_ring_bytes(const struct options *opts, const struct sensor_def *def);

/* The threshold that wakes the helper for a sensor's ring: --wakeup-bytes, else a quarter
 * of the ring (3/4 of it left for the records that come while the helper wakes and drains). */
__u32 options_wakeup_bytes(const struct options *opts, const struct sensor_def *def);

/* The route --route forces for a sensor, or NULL to let its probes choose. */
const char *options_route(const struct options *opts, const struct sensor_def *def);

/* Fill opts from argv. Returns -1 to go on, or the exit code to exit with right away
 * (after --help, or after printing one line about a bad command line). */
int options_parse(int argc, char **argv, struct options *opts);

#endif /* OPTIONS_H */
