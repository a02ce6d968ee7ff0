/* --set: write a sensor's `const volatile` rodata variable before load, found by name in
 * the object's BTF, so a sensor declares an option once, in its .bpf.c. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>

#include "helper.h"
#include "settings.h"

/* The variable's offset, size and resolved type in .rodata; -ENOENT if there is none. */
static int find_var(const struct btf *btf, const char *name, __u32 *offset, __u32 *size,
		    const struct btf_type **type)
{
	int sec_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	const struct btf_type *sec;
	const struct btf_var_secinfo *vs;

	if (sec_id < 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, sec_id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *var = btf__type_by_id(btf, vs->type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), name))
			continue;
		*offset = vs->offset;
		*size = vs->size;
		*type = btf__type_by_id(btf, btf__resolve_type(btf, var->type));
		return *type ? 0 : -ENOENT;
	}
	return -ENOENT;
}

static int set_integer(void *at, __u32 size, bool is_signed, const char *sensor, const char *var,
		       const char *value)
{
	char *end;
	long long s;
	unsigned long long u;

	errno = 0;
	if (is_signed) {
		s = strtoll(value, &end, 0);
		u = (unsigned long long)s;
		if (size < 8 && (s < -(1LL << (size * 8 - 1)) || s >= (1LL << (size * 8 - 1))))
			errno = ERANGE;
	} else {
		u = strtoull(value, &end, 0);
		if (value[0] == '-' || (size < 8 && u >> (size * 8)))
			errno = ERANGE;
	}
	if (errno || end == value || *end) {
		diag("--set %s.%s: '%s' is not a%s integer of %u bytes", sensor, var, value,
		     is_signed ? "" : "n unsigned", size);
		return -EINVAL;
	}
	memcpy(at, &u, size); /* little-endian: the low bytes */
	return 0;
}

static int set_string(char *at, __u32 size, const char *sensor, const char *var, const char *value)
{
	size_t len = strlen(value);

	if (len >= size) {
		diag("--set %s.%s: '%s' is longer than %u bytes", sensor, var, value, size - 1);
		return -EINVAL;
	}
	memset(at, 0, size);
	memcpy(at, value, len);
	return 0;
}

int settings_apply(struct bpf_object *obj, const char *sensor, const struct sensor_setting *sets,
		   size_t n, const struct sensor_def *def)
{
	struct bpf_map *rodata = bpf_object__find_map_by_name(obj, ".rodata");
	const struct btf *btf = bpf_object__btf(obj);
	size_t data_size = 0;
	/* libbpf 1.1 returns it const, but before load it is the writable image the
	 * skeleton's ->rodata points at. */
	char *data = rodata ? (char *)(uintptr_t)bpf_map__initial_value(rodata, &data_size) : NULL;

	for (size_t i = 0; i < n; i++) {
		const struct btf_type *t, *elem;
		__u32 offset, size;
		int err;

		if (sets[i].sensor != def)
			continue;
		if (!data || !btf || find_var(btf, sets[i].var, &offset, &size, &t) ||
		    offset + size > data_size) {
			diag("--set %s.%s: the sensor lists the option but its object has no such "
			     "rodata variable", sensor, sets[i].var);
			return -EINVAL;
		}
		if (btf_is_int(t)) {
			err = set_integer(data + offset, size, btf_int_encoding(t) & BTF_INT_SIGNED,
					  sensor, sets[i].var, sets[i].value);
		} else if (btf_is_array(t) &&
			   (elem = btf__type_by_id(btf, btf__resolve_type(btf, btf_array(t)->type))) &&
			   btf_is_int(elem) && elem->size == 1) {
			err = set_string(data + offset, size, sensor, sets[i].var, sets[i].value);
		} else {
			diag("--set %s.%s: only integer and char-array options can be set", sensor,
			     sets[i].var);
			err = -EINVAL;
		}
		if (err)
			return err;
	}
	return 0;
}
