/* Aggregate records (PROTOCOL.md): in-kernel counter maps read every --aggregate-ms and
 * sent as the increase per key since the previous read. */
#ifndef AGGREGATE_H
#define AGGREGATE_H

#include <stddef.h>

#include "sensors.h"

/* Find and check every aggregation map of the loaded sensors. 0, or a negative errno after
 * one stderr line naming the sensor and map. */
int aggregate_init(const struct sensor *sensors, size_t n);
/* Whether any loaded sensor aggregates (the loop arms its timer only then). */
bool aggregate_any(void);
/* Read every map and queue one record per key whose counters rose. 0 or a negative errno. */
int aggregate_drain(void);
void aggregate_free(void);

#endif /* AGGREGATE_H */
