/* The JSON frames: HELLO, READY and LOG (PROFILE_DONE is built in profile.c). */
#ifndef ANNOUNCE_H
#define ANNOUNCE_H

#include <stddef.h>

#include "options.h"
#include "sensors.h"

/* Each returns 0 or a negative errno (from the output, or -ENOMEM). */
int announce_hello(const struct sensor_def *const *sensors, size_t n);
/* HELLO of profile mode: the same fields, no sensors, plus "mode" and "profile". */
int announce_hello_profile(const struct profile_options *opts);
/* READY: the attached sensors (and their routes) and the ones left off. */
int announce_ready(double load_ms, double attach_ms, const struct sensor *attached, size_t n,
		   const struct sensor_failure *failed, size_t nfailed);
int announce_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* ANNOUNCE_H */
