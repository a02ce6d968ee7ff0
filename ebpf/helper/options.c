/* Command-line parsing and validation; every error is one stderr line and exit 1. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "options.h"

#define MAX_RING_BYTES (1u << 30)

static const char usage[] =
	"usage: " HELPER_NAME " [--sensors NAME[,NAME...]] [--ring-bytes N] [--wakeup-bytes N]\n"
	"                      [--poll-ms N] [--stats-ms N] [--batch-bytes N]\n"
	"\n"
	"Loads eBPF sensors and streams their records as frames on stdout (ebpf/PROTOCOL.md).\n"
	"Stops on SIGTERM, SIGINT or EOF on stdin.\n"
	"\n"
	"  --sensors LIST      sensors to load (default process; known: %s)\n"
	"  --ring-bytes N      ring buffer per sensor, power of two >= page size (default 4194304)\n"
	"  --wakeup-bytes N    wake up only once N bytes are waiting, < ring bytes (default 65536)\n"
	"  --poll-ms N         longest wait before draining, 1-10000 (default 5)\n"
	"  --stats-ms N        STATS frame interval, 10-3600000 (default 1000)\n"
	"  --batch-bytes N     EVENTS payload that flushes a batch, 1024-1048576 (default 65536)\n"
	"  --help              this text\n"
	"\n"
	"Exit codes: 0 clean stop, 1 bad command line, 2 no kernel BTF, 3 missing privileges,\n"
	"4 a sensor failed to load or attach, 5 the output pipe failed.\n";

/* Parse a decimal in [min, max]; -1 after printing why not. */
static int parse_u32(const char *option, const char *text, __u32 min, __u32 max, __u32 *out)
{
	unsigned long long value;
	char *end;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || value < min || value > max) {
		diag("--%s must be a number from %u to %u, got '%s'", option, min, max, text);
		return -1;
	}
	*out = value;
	return 0;
}

static int parse_sensors(char *list, struct options *opts)
{
	char *save = NULL;

	opts->nsensors = 0;
	for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		const struct sensor_def *def = sensor_find(name);

		if (!def) {
			diag("unknown sensor '%s' in --sensors; known sensors: %s", name,
			     sensor_known_names());
			return -1;
		}
		for (size_t i = 0; i < opts->nsensors; i++) {
			if (opts->sensors[i] == def) {
				diag("sensor '%s' is listed twice in --sensors", name);
				return -1;
			}
		}
		/* Cannot overflow: names are unique and SENSORS_MAX bounds the table. */
		opts->sensors[opts->nsensors++] = def;
	}
	if (!opts->nsensors) {
		diag("--sensors needs at least one sensor; known sensors: %s", sensor_known_names());
		return -1;
	}
	return 0;
}

int options_parse(int argc, char **argv, struct options *opts)
{
	enum { OPT_SENSORS = 256, OPT_RING, OPT_WAKEUP, OPT_POLL, OPT_STATS, OPT_BATCH, OPT_HELP };
	static const struct option longopts[] = {
		{ "sensors", required_argument, NULL, OPT_SENSORS },
		{ "ring-bytes", required_argument, NULL, OPT_RING },
		{ "wakeup-bytes", required_argument, NULL, OPT_WAKEUP },
		{ "poll-ms", required_argument, NULL, OPT_POLL },
		{ "stats-ms", required_argument, NULL, OPT_STATS },
		{ "batch-bytes", required_argument, NULL, OPT_BATCH },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	__u32 page_size = sysconf(_SC_PAGESIZE);
	char default_sensors[] = "process";
	char *sensors = default_sensors;
	int opt, bad = 0;

	*opts = (struct options){
		.ring_bytes = 4u << 20,
		.wakeup_bytes = 64u << 10,
		.poll_ms = 5,
		.stats_ms = 1000,
		.batch_bytes = 64u << 10,
	};
	opterr = 0; /* our own one-line messages instead of getopt's */
	while (!bad && (opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_SENSORS:
			sensors = optarg;
			break;
		case OPT_RING:
			bad = parse_u32("ring-bytes", optarg, page_size, MAX_RING_BYTES,
					&opts->ring_bytes);
			if (!bad && (opts->ring_bytes & (opts->ring_bytes - 1))) {
				diag("--ring-bytes must be a power of two, got %u", opts->ring_bytes);
				bad = -1;
			}
			break;
		case OPT_WAKEUP:
			bad = parse_u32("wakeup-bytes", optarg, 0, MAX_RING_BYTES, &opts->wakeup_bytes);
			break;
		case OPT_POLL:
			bad = parse_u32("poll-ms", optarg, 1, 10000, &opts->poll_ms);
			break;
		case OPT_STATS:
			bad = parse_u32("stats-ms", optarg, 10, 3600000, &opts->stats_ms);
			break;
		case OPT_BATCH:
			bad = parse_u32("batch-bytes", optarg, 1024, 1u << 20, &opts->batch_bytes);
			break;
		case OPT_HELP:
			printf(usage, sensor_known_names());
			return EXIT_CLEAN;
		case ':':
			diag("option '%s' needs a value; see --help", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt)
				diag("unknown option '-%c'; see --help", optopt);
			else
				diag("unknown option '%s'; see --help", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (bad)
		return EXIT_USAGE;
	if (optind < argc) {
		diag("unexpected argument '%s'; see --help", argv[optind]);
		return EXIT_USAGE;
	}
	if (opts->wakeup_bytes >= opts->ring_bytes) {
		diag("--wakeup-bytes (%u) must be smaller than --ring-bytes (%u)", opts->wakeup_bytes,
		     opts->ring_bytes);
		return EXIT_USAGE;
	}
	return parse_sensors(sensors, opts) ? EXIT_USAGE : -1;
}
