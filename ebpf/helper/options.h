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

struct options {
	bool profile; /* --profile: sample stacks (profile) instead of streaming (the rest) */
	struct profile_options prof;
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
