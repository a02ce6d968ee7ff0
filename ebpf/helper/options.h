/* Command line (PROTOCOL.md "Command line"). */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stddef.h>
#include <linux/types.h>

#include "sensors.h"

struct options {
	const struct sensor_def *sensors[SENSORS_MAX]; /* in --sensors order: sensor ids */
	size_t nsensors;
	__u32 ring_bytes;
	__u32 wakeup_bytes;
	__u32 poll_ms;
	__u32 stats_ms;
	__u32 batch_bytes;
};

/* Fill opts from argv. Returns -1 to go on, or the exit code to exit with right away
 * (after --help, or after printing one line about a bad command line). */
int options_parse(int argc, char **argv, struct options *opts);

#endif /* OPTIONS_H */
