/* The sensor table and generic skeleton handling: a sensor's own file only names
 * its programs and records and wraps its skeleton. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "helper.h"
#include "sensors.h"
#include "settings.h"

/* Bounds of the SENSOR_REGISTER section, provided by the linker. */
extern const struct sensor_def *const __start_bpfwasm_sensors[];
extern const struct sensor_def *const __stop_bpfwasm_sensors[];

const struct sensor_def *sensor_find(const char *name)
{
	for (const struct sensor_def *const *d = __start_bpfwasm_sensors; d < __stop_bpfwasm_sensors; d++)
		if (!strcmp((*d)->name, name))
			return *d;
	return NULL;
}

const char *sensor_known_names(void)
{
	static char names[256];
	size_t len = 0;

	for (const struct sensor_def *const *d = __start_bpfwasm_sensors;
	     d < __stop_bpfwasm_sensors && len < sizeof(names); d++)
		len += snprintf(names + len, sizeof(names) - len, "%s%s",
				d == __start_bpfwasm_sensors ? "" : ",", (*d)->name);
	return names;
}

static int fail(struct sensor *s, const char *step, int err)
{
	s->failed_step = step;
	return err < 0 ? err : -err;
}

/* Resolve the maps and programs the generic code relies on, by name. */
static int find_objects(struct sensor *s)
{
	struct bpf_object *obj = s->def->object(s->skel);
	struct bpf_program *prog;
	size_t in_object = 0;

	s->events = bpf_object__find_map_by_name(obj, "events");
	if (!s->events)
		return fail(s, "find its 'events' map", -ENOENT);
	s->stats = bpf_object__find_map_by_name(obj, "stats");
	if (!s->stats)
		return fail(s, "find its 'stats' map", -ENOENT);

	for (s->nprograms = 0; s->def->programs[s->nprograms]; s->nprograms++) {
		if (s->nprograms == SENSOR_MAX_PROGRAMS)
			return fail(s, "fit its programs in SENSOR_MAX_PROGRAMS", -E2BIG);
		prog = bpf_object__find_program_by_name(obj, s->def->programs[s->nprograms]);
		if (!prog)
			return fail(s, "find a program of its program list", -ENOENT);
		s->programs[s->nprograms] = prog;
	}
	/* A program missing from the list would run without showing in HELLO or STATS. */
	bpf_object__for_each_program(prog, obj)
		in_object++;
	if (in_object != s->nprograms)
		return fail(s, "list every program of its object", -EINVAL);
	return 0;
}

const struct route_def *sensor_route(const struct sensor_def *def, const char *name)
{
	for (const struct route_def *r = def->routes; r && r->name; r++)
		if (!strcmp(r->name, name))
			return r;
	return NULL;
}

const char *sensor_route_names(const struct sensor_def *def)
{
	static char names[128];
	size_t len = 0;

	names[0] = '\0';
	for (const struct route_def *r = def->routes; r && r->name && len < sizeof(names); r++)
		len += snprintf(names + len, sizeof(names) - len, "%s%s",
				r == def->routes ? "" : ",", r->name);
	return names;
}

static int set_route_autoload(struct sensor *s, const struct route_def *route, bool on)
{
	struct bpf_object *obj = s->def->object(s->skel);

	for (const char *const *p = route->programs; *p; p++) {
		struct bpf_program *prog = bpf_object__find_program_by_name(obj, *p);

		if (!prog)
			return fail(s, "find a program of its route", -ENOENT);
		bpf_program__set_autoload(prog, on);
	}
	return 0;
}

/* The forced route if it is available, else the first available one; the programs of the
 * others are not loaded. Without one, route_error says why each was refused. */
static int choose_route(struct sensor *s, const char *forced)
{
	const struct route_def *chosen = NULL;
	const char *sep = "";
	size_t len = 0;
	int err, refused = -ENOENT; /* why the last route tried is not usable here */

	if (!s->def->routes)
		return 0;
	for (const struct route_def *r = s->def->routes; r->name; r++) {
		const char *why = "";

		err = set_route_autoload(s, r, false);
		if (err)
			return err;
		if (chosen || (forced && strcmp(forced, r->name)))
			continue;
		refused = r->available(&why);
		if (!refused)
			chosen = r;
		else if (len < sizeof(s->route_error))
			len += snprintf(s->route_error + len, sizeof(s->route_error) - len, "%s%s: %s",
					sep, r->name, why);
		sep = "; ";
	}
	if (!chosen)
		return fail(s, "find a usable route", refused);
	s->route_error[0] = '\0';
	s->route = chosen->name;
	return set_route_autoload(s, chosen, true);
}

int sensor_open_load(struct sensor *s, const struct sensor_def *def, __u32 ring_bytes,
		     __u32 wakeup_bytes, __u32 poll_ms, const struct sensor_setting *settings,
		     size_t nsettings, const char *route)
{
	int err;

	s->def = def;
	s->skel = def->open(wakeup_bytes, poll_ms);
	if (!s->skel)
		return fail(s, "open", -errno);
	err = find_objects(s);
	if (err)
		return err;
	err = bpf_map__set_max_entries(s->events, ring_bytes);
	if (err)
		return fail(s, "size its ring buffer", err);
	err = settings_apply(def->object(s->skel), def->name, settings, nsettings, def);
	if (err) {
		s->bad_setting = true;
		return fail(s, "apply --set", err);
	}
	err = choose_route(s, route);
	if (err)
		return err;
	err = def->configure ? def->configure(s->skel) : 0;
	if (err)
		return fail(s, "configure its programs", err);
	/* Only fentry/fexit, LSM, iter, uprobe and struct_ops programs may sleep: the verifier
	 * refuses the first one it loads, a real load failure for the partial-start tests. */
	for (size_t i = 0; s->unloadable && i < s->nprograms; i++)
		bpf_program__set_flags(s->programs[i],
				       bpf_program__flags(s->programs[i]) | BPF_F_SLEEPABLE);
	err = def->load(s->skel);
	if (err)
		return fail(s, "load", err);
	return 0;
}

int sensor_attach(struct sensor *s)
{
	int err = s->def->attach(s->skel);

	return err ? fail(s, "attach", err) : 0;
}

void sensor_detach(struct sensor *s)
{
	if (s->skel)
		s->def->detach(s->skel);
}

void sensor_destroy(struct sensor *s)
{
	if (s->skel)
		s->def->destroy(s->skel);
	s->skel = NULL;
}

struct ring_buffer *sensors_ring_buffer(struct sensor *sensors, size_t n, ring_buffer_sample_fn fn)
{
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(sensors[0].events), fn, NULL, NULL);

	if (!rb)
		return NULL;
	for (size_t i = 1; i < n; i++) {
		int err = ring_buffer__add(rb, bpf_map__fd(sensors[i].events), fn, NULL);

		if (err) {
			ring_buffer__free(rb);
			errno = -err;
			return NULL;
		}
	}
	return rb;
}
