/* The sensor table and the generic open/load/attach code for one sensor. */
#ifndef SENSORS_H
#define SENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <bpf/libbpf.h>

#define SENSORS_MAX 16		/* sensors enabled at once */
#define SENSOR_MAX_PROGRAMS 16

struct record_def {
	__u16 type;
	__u16 size;
};

/* An in-kernel aggregation map the helper reads every --aggregate-ms (PROTOCOL.md
 * "Aggregate records"). The map is a HASH or PERCPU_HASH whose key is the record's key
 * fields and whose value is its u64 counters, so that
 * BPFWASM_EVENT_HEADER_SIZE + key_size + value_size == record size. */
struct aggregate_def {
	const char *map;
	__u16 type; /* record type, also listed in the sensor's records */
	__u16 size;
};

/* One way to the same records: the programs only this route loads, and whether this kernel
 * has what they attach to. A sensor's routes are tried in order; the first available wins
 * (--route forces one). Programs of the routes not taken keep autoload off. */
struct route_def {
	const char *name;
	const char *const *programs; /* NULL-terminated, each also in the sensor's programs */
	/* 0 if usable here, else a negative errno with `why` set to the reason. */
	int (*available)(const char **why);
};

/* What a sensor is: declared in <name>/sensor.yaml, whose generated <name>.sensor.h defines
 * it and registers it with SENSOR_REGISTER. */
struct sensor_def {
	const char *name;
	const char *const *programs;	  /* NULL-terminated; index = program index on the wire */
	const struct record_def *records; /* every record type it sends; terminated by { 0 } */
	const struct aggregate_def *aggregates; /* NULL or terminated by { 0 } */
	/* `const volatile` rodata variables --set may change; NULL-terminated, NULL for none. */
	const char *const *options;
	/* Ring size when --ring does not name this sensor; 0 means --ring-bytes. Sensors that
	 * only aggregate keep a one-page ring, since their events map stays empty. */
	__u32 ring_bytes;
	/* NULL (one fixed set of programs) or its routes, terminated by { 0 }. */
	const struct route_def *routes;
	/* NULL or called after the route is chosen, before load: sets the rodata variables
	 * that feature probes decide (e.g. whether a tracepoint has an argument). */
	int (*configure)(void *skel);
	/* Skeleton operations, usually SKELETON_OPS(<name>_bpf). */
	/* NULL and errno on failure; sets the wakeup policy (--wakeup-bytes, --poll-ms). */
	void *(*open)(__u32 wakeup_bytes, __u32 poll_ms);
	struct bpf_object *(*object)(void *skel);
	int (*load)(void *skel);
	int (*attach)(void *skel);
	void (*detach)(void *skel);
	void (*destroy)(void *skel);
};

/* Defines the operations of a bpftool skeleton `struct <skel>` (from <skel>.skel.h). */
#define SKELETON_ADAPTER(skel)                                                 \
	static void *skel##_open_sensor(__u32 wakeup_bytes, __u32 poll_ms)     \
	{                                                                      \
		struct skel *s = skel##__open();                               \
		if (s) {                                                       \
			s->rodata->wakeup_bytes = wakeup_bytes;                \
			s->rodata->quiet_ns = poll_ms * 1000000ULL;            \
		}                                                              \
		return s;                                                      \
	}                                                                      \
	static struct bpf_object *skel##_object(void *s)                       \
	{                                                                      \
		return ((struct skel *)s)->obj;                                \
	}                                                                      \
	static int skel##_load_sensor(void *s) { return skel##__load(s); }     \
	static int skel##_attach_sensor(void *s) { return skel##__attach(s); } \
	static void skel##_detach_sensor(void *s) { skel##__detach(s); }       \
	static void skel##_destroy_sensor(void *s) { skel##__destroy(s); }

#define SKELETON_OPS(skel)                                                      \
	.open = skel##_open_sensor, .object = skel##_object,                    \
	.load = skel##_load_sensor, .attach = skel##_attach_sensor,             \
	.detach = skel##_detach_sensor, .destroy = skel##_destroy_sensor

/* A loaded sensor. */
struct sensor {
	const struct sensor_def *def;
	__u16 id; /* its index in --sensors and HELLO, kept when others fail */
	/* The hooks its adapter chose (e.g. "tp_btf"), sent in READY "routes"; NULL: not said. */
	const char *route;
	/* Test only (--test-unloadable): its programs are made sleepable, which the verifier
	 * refuses for tracepoint programs. */
	bool unloadable;
	void *skel;
	struct bpf_map *events;
	struct bpf_map *stats;
	struct bpf_program *programs[SENSOR_MAX_PROGRAMS]; /* in def->programs order */
	size_t nprograms;
	const char *failed_step; /* set when a call below fails, for the diagnostic */
	char route_error[256];	 /* when no route could be chosen: why, per route */
	bool bad_setting;	 /* a --set value was refused (already reported): a usage error */
};

/* A sensor left off: the step that failed, its errno, and why in the kernel's or libbpf's
 * words (READY "failed"). */
struct sensor_failure {
	const struct sensor_def *def;
	const char *step;
	int err; /* positive errno */
	const char *route; /* the route it tried, if its adapter chose one */
	char error[256];
};

struct sensor_setting;

/* Puts a sensor_def into the table sensor_find searches (a linker section, so adding a
 * sensor touches no shared file). */
#define SENSOR_REGISTER(def)                                                       \
	static const struct sensor_def *const def##_entry                          \
		__attribute__((used, section("bpfwasm_sensors"), aligned(sizeof(void *)))) = &def

const struct sensor_def *sensor_find(const char *name);
/* Comma-separated names of every known sensor, for error messages. */
const char *sensor_known_names(void);

/* Open the skeleton, size its ring, apply the --set settings naming it, choose its route
 * (`route`, or the first available when NULL) and load it. 0 or a negative errno. */
int sensor_open_load(struct sensor *s, const struct sensor_def *def, __u32 ring_bytes,
		     __u32 wakeup_bytes, __u32 poll_ms, const struct sensor_setting *settings,
		     size_t nsettings, const char *route);
/* The route of `def` called `name`, or NULL. */
const struct route_def *sensor_route(const struct sensor_def *def, const char *name);
/* Comma-separated route names of `def`, for error messages. */
const char *sensor_route_names(const struct sensor_def *def);
int sensor_attach(struct sensor *s);
/* Stops its programs; maps and rings stay readable. */
void sensor_detach(struct sensor *s);
void sensor_destroy(struct sensor *s);

/* One libbpf ring_buffer over the `events` maps of n >= 1 sensors. NULL and errno on failure. */
struct ring_buffer *sensors_ring_buffer(struct sensor *sensors, size_t n, ring_buffer_sample_fn fn);

#endif /* SENSORS_H */
