/* --check: probes the kernel features the sensors and the profiler use, each by doing the real
 * thing once (probe.c), and prints one JSON object on stdout for `bpfwasm check`. A failed probe
 * is a result, not an error: exit 0. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "helper.h"
#include "probe.h"

/* A tracepoint every kernel since 5.5 has; its btf_trace_ typedef is what tp_btf attaches to. */
#define TP_BTF_TARGET "sched_process_fork"
/* A function every kernel since 5.10 has, to place a probe kprobe on. */
#define KPROBE_TARGET "kernel_clone"

/* The CapEff line of /proc/self/status: this process' effective capabilities, in hex. */
static void read_cap_eff(char *out, size_t size)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	snprintf(out, size, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %31s", out) == 1)
			break;
	fclose(f);
}

static void print_probe(const char *name, int err, const char *sep)
{
	printf("\"%s\":{\"ok\":%s,\"errno\":%d,\"error\":\"%s\"}%s", name, err ? "false" : "true",
	       -err, err ? strerror(-err) : "", sep);
}

int check_main(void)
{
	struct utsname uts;
	char cap_eff[32];
	int stats_sysctl = -1;

	/* Failures are reported in the JSON; libbpf's own lines would only repeat them. */
	libbpf_set_print(NULL);
	uname(&uts);
	read_cap_eff(cap_eff, sizeof(cap_eff));
	probe_read_int("/proc/sys/kernel/bpf_stats_enabled", &stats_sysctl);

	printf("{\"helper\":\"%s\",\"kernel\":\"%s\",\"libbpf\":\"%u.%u\",\"cap_eff\":\"%s\","
	       "\"bpf_stats_sysctl\":%d,\"probes\":{",
	       HELPER_VERSION, uts.release, libbpf_major_version(), libbpf_minor_version(),
	       cap_eff, stats_sysctl);
	print_probe("btf", probe_btf(), ",");
	print_probe("ringbuf", probe_ringbuf(), ",");
	print_probe("tp_btf", probe_tp_btf(TP_BTF_TARGET), ",");
	print_probe("perf_event", probe_perf_event(), ",");
	print_probe("bpf_stats", probe_bpf_stats(), ",");
	print_probe("kprobe", probe_kprobe(KPROBE_TARGET), "");
	printf("}}\n");
	probe_free();
	if (fflush(stdout) || ferror(stdout)) {
		diag("writing the check report to stdout failed: %s", strerror(errno));
		return EXIT_OUTPUT_FAILED;
	}
	return EXIT_CLEAN;
}
