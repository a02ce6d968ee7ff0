/* STATS frames: ring counters per CPU, records written per type, program run stats. */
#ifndef STATS_H
#define STATS_H

#include <stddef.h>

#include "sensors.h"

/* Enables BPF run-time stats and sizes the buffers. 0 or a negative errno. */
int stats_init(const struct sensor *sensors, size_t n);
/* Flush pending EVENTS, then write one STATS frame. 0 or a negative errno. */
int stats_write(void);
void stats_free(void);

#endif /* STATS_H */
