/* --set SENSOR.VAR=VALUE applied to a sensor's rodata before load. */
#ifndef SETTINGS_H
#define SETTINGS_H

#include <stddef.h>
#include <bpf/libbpf.h>

#include "options.h"

/* Apply the settings naming `def` to its opened object. 0, or -EINVAL after one stderr line. */
int settings_apply(struct bpf_object *obj, const char *sensor, const struct sensor_setting *sets,
		   size_t n, const struct sensor_def *def);

#endif /* SETTINGS_H */
