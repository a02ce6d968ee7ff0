/* The blockio sensor's helper hooks: the probes of its routes, which differ only in how the
 * tracepoints' request argument is taken (README "Routes"), and its configure hook. The rest
 * of it is declared in sensor.yaml. */
#include <errno.h>

#include "probe.h"
#include "blockio.sensor.h"

/* tp_btf as blockio.bpf.c writes it: the request is the first argument of all three. */
static int tp_btf_available(const char **why)
{
	*why = "block_rq_issue/requeue/complete do not take the request alone first in the "
	       "kernel BTF";
	if (probe_tracepoint_args("block_rq_issue") != 1 || probe_tracepoint_args("block_rq_requeue") != 1)
		return -ENOENT;
	return probe_tracepoint_arg_struct("block_rq_issue", 0, "request") ||
			       probe_tracepoint_arg_struct("block_rq_requeue", 0, "request") ||
			       probe_tracepoint_arg_struct("block_rq_complete", 0, "request")
		       ? -ENOENT : 0;
}

/* The request where BTF places it: first, or second after the queue (before 5.11). */
static int issue_rq_arg(void)
{
	if (!probe_tracepoint_arg_struct("block_rq_issue", 0, "request") &&
	    !probe_tracepoint_arg_struct("block_rq_requeue", 0, "request"))
		return 0;
	if (!probe_tracepoint_arg_struct("block_rq_issue", 1, "request") &&
	    !probe_tracepoint_arg_struct("block_rq_requeue", 1, "request"))
		return 1;
	return -ENOENT;
}

static int raw_tp_available(const char **why)
{
	*why = "no request argument in the kernel's block_rq_issue/requeue/complete BTF";
	return issue_rq_arg() < 0 || probe_tracepoint_arg_struct("block_rq_complete", 0, "request")
		       ? -ENOENT : 0;
}

static int blockio_configure(void *skel)
{
	int arg = issue_rq_arg();

	((struct blockio_bpf *)skel)->rodata->issue_rq_arg = arg > 0 ? (__u32)arg : 0;
	return 0;
}
