/* The OOM sensor's helper hooks: the probes of its routes, which differ only in the hook
 * that sees the victim (README "Routes"). The rest of it is declared in sensor.yaml. */
#include <errno.h>

#include "probe.h"
#include "oom.sensor.h"

/* Kernels before the mark_victim tracepoint took the task (it passed a pid) cannot use it. */
static int tp_btf_available(const char **why)
{
	*why = "the kernel's mark_victim tracepoint has no task_struct argument";
	return probe_tracepoint_arg_struct("mark_victim", 0, "task_struct");
}

static int fentry_available(const char **why)
{
	*why = "fentry on mark_oom_victim cannot be attached";
	return probe_fentry("mark_oom_victim");
}

static int kprobe_available(const char **why)
{
	*why = "no kprobe on mark_oom_victim";
	return probe_kprobe("mark_oom_victim");
}
