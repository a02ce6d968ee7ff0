/* Command-line parsing and validation; every error is one stderr line and exit 1. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"
#include "options.h"

#define MAX_RING_BYTES (1u << 30)

static const char usage[] =
	"usage: " HELPER_NAME " [--sensors NAME[,NAME...]] [--ring-bytes N] [--wakeup-bytes N]\n"
	"                      [--poll-ms N] [--busy-poll-ms N] [--stats-ms N] [--batch-bytes N]\n"
	"                      [--aggregate-ms N]\n"
	"                      [--ring SENSOR=N]... [--set SENSOR.VAR=VALUE]... [--route SENSOR=ROUTE]...\n"
	"                      [--sink stdout|null] [--require NAME[,NAME...]]\n"
	"       " HELPER_NAME " --profile [--hz N] [--seconds S] [--pid TGID] [--cgroup ID]\n"
	"                      [--no-kernel] [--no-user] [--include-idle]\n"
	"\n"
	"Loads eBPF sensors and streams their records as frames on stdout (ebpf/PROTOCOL.md).\n"
	"Stops on SIGTERM, SIGINT or EOF on stdin. With --profile, samples CPU stacks for a\n"
	"while instead, writes the profile and exits (stopped early: exits without it).\n"
	"\n"
	"  --sensors LIST      sensors to load (default process; known: %s)\n"
	"  --ring-bytes N      ring buffer per sensor, power of two >= page size (default 4194304)\n"
	"  --wakeup-bytes N    wake up once N bytes are waiting, < each ring (default 0: a\n"
	"                      quarter of each sensor's ring)\n"
	"  --poll-ms N         longest wait before draining, 1-10000 (default 5); a record after\n"
	"                      this long without one on its CPU wakes the helper at once\n"
	"  --busy-poll-ms N    longest wait while records keep coming (a stream), from --poll-ms\n"
	"                      to 10000 (default 80 x --poll-ms)\n"
	"  --stats-ms N        STATS frame interval, 10-3600000 (default 1000)\n"
	"  --batch-bytes N     EVENTS payload that flushes a batch, 1024-1048576 (default 1048576)\n"
	"  --aggregate-ms N    aggregate record interval, 10-3600000 (default 1000)\n"
	"  --ring SENSOR=N     that sensor's ring size (default --ring-bytes, or one page for\n"
	"                      sensors that only aggregate)\n"
	"  --set SENSOR.VAR=V  set a sensor option before load (see the sensor's README)\n"
	"  --route SENSOR=R    load that route of the sensor, or fail (default auto: the first\n"
	"                      this kernel supports; routes in the sensor's README)\n"
	"  --sink null         read and count records but send none (benchmarks; default stdout)\n"
	"  --require LIST      sensors that must load: their failure exits 4; any other sensor\n"
	"                      that fails is left off, reported in LOG and READY\n"
	"  --profile           profile mode; the options below need it\n"
	"  --hz N              samples per second per CPU, 1-1000 (default 99)\n"
	"  --seconds S         sampling time, 1-300 (default 10)\n"
	"  --pid TGID          only this process (default every process)\n"
	"  --cgroup ID         only this cgroup v2 id (inode number of its directory)\n"
	"  --no-kernel         no kernel stacks       --no-user   no user stacks\n"
	"  --include-idle      also sample the idle task (pid 0)\n"
	"  --help              this text\n"
	"\n"
	"Exit codes: 0 clean stop, 1 bad command line, 2 no kernel BTF, 3 missing privileges,\n"
	"4 a required sensor failed to load or attach, 5 the output pipe failed.\n";

/* Parse a decimal in [min, max]; -1 after printing why not. */
static int parse_u64(const char *option, const char *text, __u64 min, __u64 max, __u64 *out)
{
	unsigned long long value;
	char *end;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || value < min || value > max) {
		diag("--%s must be a number from %llu to %llu, got '%s'", option,
		     (unsigned long long)min, (unsigned long long)max, text);
		return -1;
	}
	*out = value;
	return 0;
}

static int parse_u32(const char *option, const char *text, __u32 min, __u32 max, __u32 *out)
{
	__u64 value;

	if (parse_u64(option, text, min, max, &value))
		return -1;
	*out = value;
	return 0;
}

/* --pid must name a live process now; a typo should not profile nothing for S seconds. */
static int check_pid(__u32 pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%u", pid);
	if (access(path, F_OK)) {
		diag("no process with pid %u", pid);
		return -1;
	}
	return 0;
}

static int parse_ring_bytes(const char *option, const char *text, __u32 *out)
{
	__u32 page_size = sysconf(_SC_PAGESIZE);

	if (parse_u32(option, text, page_size, MAX_RING_BYTES, out))
		return -1;
	if (*out & (*out - 1)) {
		diag("--%s must be a power of two, got %u", option, *out);
		return -1;
	}
	return 0;
}

static const struct sensor_def *known_sensor(const char *option, const char *name)
{
	const struct sensor_def *def = sensor_find(name);

	if (!def)
		diag("unknown sensor '%s' in --%s; known sensors: %s", name, option,
		     sensor_known_names());
	return def;
}

/* SENSOR=VALUE of --<option>: the sensor it names, with *value set to VALUE; NULL after
 * printing why not. */
static const struct sensor_def *sensor_arg(const char *option, const char *value_name, char *arg,
					   const char **value)
{
	char *eq = strchr(arg, '=');

	if (!eq) {
		diag("--%s needs SENSOR=%s, got '%s'", option, value_name, arg);
		return NULL;
	}
	*eq = '\0';
	*value = eq + 1;
	return known_sensor(option, arg);
}

/* --ring SENSOR=N */
static int parse_ring(char *arg, struct options *opts)
{
	const char *bytes;
	const struct sensor_def *def = sensor_arg("ring", "BYTES", arg, &bytes);

	if (!def)
		return -1;
	for (size_t i = 0; i < opts->nrings; i++) {
		if (opts->rings[i].sensor == def) {
			diag("--ring names sensor '%s' twice", arg);
			return -1;
		}
	}
	if (opts->nrings == ARRAY_SIZE(opts->rings)) {
		diag("too many --ring options");
		return -1;
	}
	opts->rings[opts->nrings].sensor = def;
	return parse_ring_bytes("ring", bytes, &opts->rings[opts->nrings++].bytes);
}

/* --set SENSOR.VAR=VALUE; the value is checked against the variable's type at load. */
static int parse_setting(char *arg, struct options *opts)
{
	char *dot = strchr(arg, '.'), *eq = strchr(arg, '=');
	const struct sensor_def *def;
	struct sensor_setting *set;
	bool known = false;

	if (!dot || !eq || eq < dot || dot == arg || eq == dot + 1) {
		diag("--set needs SENSOR.VAR=VALUE, got '%s'", arg);
		return -1;
	}
	*dot = *eq = '\0';
	def = known_sensor("set", arg);
	if (!def)
		return -1;
	for (size_t i = 0; def->options && def->options[i]; i++)
		known |= !strcmp(def->options[i], dot + 1);
	if (!known) {
		diag("sensor '%s' has no option '%s'; see its README (ebpf/%s/README.md)", arg,
		     dot + 1, arg);
		return -1;
	}
	if (opts->nsettings == ARRAY_SIZE(opts->settings)) {
		diag("too many --set options (at most %zu)", ARRAY_SIZE(opts->settings));
		return -1;
	}
	set = &opts->settings[opts->nsettings++];
	*set = (struct sensor_setting){ def, dot + 1, eq + 1 };
	return 0;
}

/* --require LIST: each name once. */
static int parse_required(char *list, struct options *opts)
{
	char *save = NULL;

	opts->nrequired = 0;
	for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		const struct sensor_def *def = known_sensor("require", name);

		if (!def)
			return -1;
		if (options_required(opts, def)) {
			diag("sensor '%s' is listed twice in --require", name);
			return -1;
		}
		opts->required[opts->nrequired++] = def;
	}
	return 0;
}

bool options_required(const struct options *opts, const struct sensor_def *def)
{
	for (size_t i = 0; i < opts->nrequired; i++)
		if (opts->required[i] == def)
			return true;
	return false;
}

/* Every --ring, --set, --route, --require and --test-unloadable must name a sensor --sensors
 * loads: a typo must not be ignored. */
static int check_sensor_loaded(const struct options *opts, const char *option,
			       const struct sensor_def *def)
{
	for (size_t j = 0; j < opts->nsensors; j++)
		if (opts->sensors[j] == def)
			return 0;
	diag("--%s names sensor '%s', which --sensors does not load", option, def->name);
	return -1;
}

static int check_sensors_loaded(const struct options *opts)
{
	for (size_t i = 0; i < opts->nrings; i++)
		if (check_sensor_loaded(opts, "ring", opts->rings[i].sensor))
			return -1;
	for (size_t i = 0; i < opts->nsettings; i++)
		if (check_sensor_loaded(opts, "set", opts->settings[i].sensor))
			return -1;
	for (size_t i = 0; i < opts->nroutes; i++)
		if (check_sensor_loaded(opts, "route", opts->routes[i].sensor))
			return -1;
	for (size_t i = 0; i < opts->nrequired; i++)
		if (check_sensor_loaded(opts, "require", opts->required[i]))
			return -1;
	if (opts->unloadable && check_sensor_loaded(opts, "test-unloadable", opts->unloadable))
		return -1;
	return 0;
}

/* --route SENSOR=ROUTE; "auto" leaves the choice to the sensor's feature probes. */
static int parse_route(char *arg, struct options *opts)
{
	const char *route;
	const struct sensor_def *def = sensor_arg("route", "ROUTE", arg, &route);

	if (!def)
		return -1;
	if (strcmp(route, "auto") && !sensor_route(def, route)) {
		diag("sensor '%s' has no route '%s'; its routes: %s", arg, route,
		     def->routes ? sensor_route_names(def) : "none (one fixed set of programs)");
		return -1;
	}
	for (size_t i = 0; i < opts->nroutes; i++) {
		if (opts->routes[i].sensor == def) {
			diag("--route names sensor '%s' twice", arg);
			return -1;
		}
	}
	/* Cannot overflow: sensors are unique and SENSORS_MAX bounds the table. */
	opts->routes[opts->nroutes++] = (struct sensor_route_choice){ def, route };
	return 0;
}

const char *options_route(const struct options *opts, const struct sensor_def *def)
{
	for (size_t i = 0; i < opts->nroutes; i++)
		if (opts->routes[i].sensor == def)
			return strcmp(opts->routes[i].route, "auto") ? opts->routes[i].route : NULL;
	return NULL;
}

__u32 options_ring_bytes(const struct options *opts, const struct sensor_def *def)
{
	for (size_t i = 0; i < opts->nrings; i++)
		if (opts->rings[i].sensor == def)
			return opts->rings[i].bytes;
	return def->ring_bytes ? def->ring_bytes : opts->ring_bytes;
}

__u32 options_wakeup_bytes(const struct options *opts, const struct sensor_def *def)
{
	return opts->wakeup_bytes ? opts->wakeup_bytes : options_ring_bytes(opts, def) / 4;
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
	enum {
		OPT_SENSORS = 256, OPT_RING_BYTES, OPT_WAKEUP, OPT_POLL, OPT_BUSY_POLL, OPT_STATS, OPT_BATCH,
		OPT_AGGREGATE, OPT_RING, OPT_SET, OPT_ROUTE, OPT_SINK, OPT_REQUIRE, OPT_TEST_UNLOADABLE,
		OPT_HELP,
		OPT_PROFILE, OPT_HZ, OPT_SECONDS, OPT_PID, OPT_CGROUP, OPT_NO_KERNEL, OPT_NO_USER,
		OPT_INCLUDE_IDLE,
	};
	static const struct option longopts[] = {
		{ "sensors", required_argument, NULL, OPT_SENSORS },
		{ "ring-bytes", required_argument, NULL, OPT_RING_BYTES },
		{ "wakeup-bytes", required_argument, NULL, OPT_WAKEUP },
		{ "poll-ms", required_argument, NULL, OPT_POLL },
		{ "busy-poll-ms", required_argument, NULL, OPT_BUSY_POLL },
		{ "stats-ms", required_argument, NULL, OPT_STATS },
		{ "batch-bytes", required_argument, NULL, OPT_BATCH },
		{ "aggregate-ms", required_argument, NULL, OPT_AGGREGATE },
		{ "ring", required_argument, NULL, OPT_RING },
		{ "set", required_argument, NULL, OPT_SET },
		{ "route", required_argument, NULL, OPT_ROUTE },
		{ "sink", required_argument, NULL, OPT_SINK },
		{ "require", required_argument, NULL, OPT_REQUIRE },
		{ "test-unloadable", required_argument, NULL, OPT_TEST_UNLOADABLE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "profile", no_argument, NULL, OPT_PROFILE },
		{ "hz", required_argument, NULL, OPT_HZ },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "no-kernel", no_argument, NULL, OPT_NO_KERNEL },
		{ "no-user", no_argument, NULL, OPT_NO_USER },
		{ "include-idle", no_argument, NULL, OPT_INCLUDE_IDLE },
		{ NULL, 0, NULL, 0 },
	};
	char default_sensors[] = "process";
	char *sensors = default_sensors;
	/* The first option of each mode seen, to reject a mix of the two. */
	const char *streaming_option = NULL, *profile_option = NULL;
	int opt, longindex = 0, bad = 0;

	*opts = (struct options){
		.ring_bytes = 4u << 20,
		.poll_ms = 5,
		.stats_ms = 1000,
		.batch_bytes = 1u << 20,
		.aggregate_ms = 1000,
		.prof = { .hz = 99, .seconds = 10, .kernel = true, .user = true },
	};
	opterr = 0; /* our own one-line messages instead of getopt's */
	while (!bad && (opt = getopt_long(argc, argv, ":", longopts, &longindex)) != -1) {
		if (opt >= OPT_SENSORS && opt <= OPT_TEST_UNLOADABLE && !streaming_option)
			streaming_option = longopts[longindex].name;
		if (opt > OPT_PROFILE && !profile_option)
			profile_option = longopts[longindex].name;
		switch (opt) {
		case OPT_SENSORS:
			sensors = optarg;
			break;
		case OPT_RING_BYTES:
			bad = parse_ring_bytes("ring-bytes", optarg, &opts->ring_bytes);
			break;
		case OPT_RING:
			bad = parse_ring(optarg, opts);
			break;
		case OPT_SET:
			bad = parse_setting(optarg, opts);
			break;
		case OPT_ROUTE:
			bad = parse_route(optarg, opts);
			break;
		case OPT_SINK:
			opts->sink_null = !strcmp(optarg, "null");
			if (!opts->sink_null && strcmp(optarg, "stdout")) {
				diag("--sink must be stdout or null, got '%s'", optarg);
				bad = 1;
			}
			break;
		case OPT_REQUIRE:
			bad = parse_required(optarg, opts);
			break;
		case OPT_TEST_UNLOADABLE:
			opts->unloadable = known_sensor("test-unloadable", optarg);
			bad = !opts->unloadable;
			break;
		case OPT_AGGREGATE:
			bad = parse_u32("aggregate-ms", optarg, 10, 3600000, &opts->aggregate_ms);
			break;
		case OPT_WAKEUP:
			bad = parse_u32("wakeup-bytes", optarg, 0, MAX_RING_BYTES, &opts->wakeup_bytes);
			break;
		case OPT_POLL:
			bad = parse_u32("poll-ms", optarg, 1, 10000, &opts->poll_ms);
			break;
		case OPT_BUSY_POLL:
			bad = parse_u32("busy-poll-ms", optarg, 1, 10000, &opts->busy_poll_ms);
			break;
		case OPT_STATS:
			bad = parse_u32("stats-ms", optarg, 10, 3600000, &opts->stats_ms);
			break;
		case OPT_BATCH:
			bad = parse_u32("batch-bytes", optarg, 1024, 1u << 20, &opts->batch_bytes);
			break;
		case OPT_PROFILE:
			opts->profile = true;
			break;
		case OPT_HZ:
			bad = parse_u32("hz", optarg, 1, 1000, &opts->prof.hz);
			break;
		case OPT_SECONDS:
			bad = parse_u32("seconds", optarg, 1, 300, &opts->prof.seconds);
			break;
		case OPT_PID:
			bad = parse_u32("pid", optarg, 1, INT32_MAX, &opts->prof.pid);
			break;
		case OPT_CGROUP:
			bad = parse_u64("cgroup", optarg, 1, UINT64_MAX, &opts->prof.cgroup_id);
			break;
		case OPT_NO_KERNEL:
			opts->prof.kernel = false;
			break;
		case OPT_NO_USER:
			opts->prof.user = false;
			break;
		case OPT_INCLUDE_IDLE:
			opts->prof.include_idle = true;
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
	if (opts->profile) {
		if (streaming_option) {
			diag("--%s is a streaming option and cannot be used with --profile; see --help",
			     streaming_option);
			return EXIT_USAGE;
		}
		if (!opts->prof.kernel && !opts->prof.user) {
			diag("--no-kernel and --no-user together leave no stack to sample");
			return EXIT_USAGE;
		}
		return opts->prof.pid && check_pid(opts->prof.pid) ? EXIT_USAGE : -1;
	}
	if (profile_option) {
		diag("--%s needs --profile; see --help", profile_option);
		return EXIT_USAGE;
	}
	if (opts->wakeup_bytes && opts->wakeup_bytes >= opts->ring_bytes) {
		diag("--wakeup-bytes (%u) must be smaller than --ring-bytes (%u)", opts->wakeup_bytes,
		     opts->ring_bytes);
		return EXIT_USAGE;
	}
	if (!opts->busy_poll_ms)
		opts->busy_poll_ms = opts->poll_ms * 80 < 10000 ? opts->poll_ms * 80 : 10000;
	if (opts->busy_poll_ms < opts->poll_ms) {
		diag("--busy-poll-ms (%u) must be at least --poll-ms (%u)", opts->busy_poll_ms,
		     opts->poll_ms);
		return EXIT_USAGE;
	}
	if (parse_sensors(sensors, opts) || check_sensors_loaded(opts))
		return EXIT_USAGE;
	/* A sensor with its own (smaller) ring must still have room above a threshold given. */
	for (size_t i = 0; i < opts->nsensors; i++) {
		__u32 ring = options_ring_bytes(opts, opts->sensors[i]);

		if (opts->wakeup_bytes && opts->wakeup_bytes >= ring && !opts->sensors[i]->aggregates) {
			diag("--wakeup-bytes (%u) must be smaller than sensor '%s''s ring (%u)",
			     opts->wakeup_bytes, opts->sensors[i]->name, ring);
			return EXIT_USAGE;
		}
	}
	return -1;
}
