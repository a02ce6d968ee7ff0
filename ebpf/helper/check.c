/* --check: probes the kernel features the sensors and the profiler use, each by doing the real
 * thing once (create the map, load and attach the program, open the event), and prints one JSON
 * object on stdout for `bpfwasm check`. A failed probe is a result, not an error: exit 0. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "helper.h"

#define KPROBE_PMU_TYPE "/sys/bus/event_source/devices/kprobe/type"
/* A tracepoint every kernel since 5.5 has; its btf_trace_ typedef is what tp_btf attaches to. */
#define TP_BTF_TARGET "btf_trace_sched_process_fork"
/* A function every kernel since 5.10 has, to place a probe kprobe on. */
#define KPROBE_TARGET "kernel_clone"

/* `r0 = 0; exit`: the smallest program the verifier accepts, for any program type. */
static const struct bpf_insn return_zero[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

static int neg_errno(void)
{
	return errno ? -errno : -EINVAL;
}

static void close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

static long perf_event_open(struct perf_event_attr *attr, int cpu)
{
	return syscall(SYS_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static int probe_btf(struct btf **vmlinux)
{
	if (access(KERNEL_BTF_PATH, R_OK))
		return neg_errno();
	*vmlinux = btf__load_vmlinux_btf();
	return *vmlinux ? 0 : neg_errno();
}

static int probe_ringbuf(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "bpfwasm_check", 0, 0,
				(__u32)sysconf(_SC_PAGESIZE), NULL);

	if (fd < 0)
		return neg_errno();
	close(fd);
	return 0;
}

/* Loads a BPF_PROG_TYPE_TRACING program for the tracepoint's BTF id and attaches it. */
static int probe_tp_btf(struct btf *vmlinux)
{
	int id, prog, link, err = 0;

	if (!vmlinux)
		return -ENOENT;
	id = btf__find_by_name_kind(vmlinux, TP_BTF_TARGET, BTF_KIND_TYPEDEF);
	if (id < 0)
		return -ENOENT;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP,
		    .attach_btf_id = (__u32)id);
	prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "check_tp_btf", "GPL", return_zero,
			     ARRAY_SIZE(return_zero), &opts);
	if (prog < 0)
		return neg_errno();
	link = bpf_raw_tracepoint_open(NULL, prog);
	if (link < 0)
		err = neg_errno();
	close_fd(link);
	close(prog);
	return err;
}

/* A CPU-clock sampling event on CPU 0 with a perf_event program on it, as the profiler does. */
static int probe_perf_event(void)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = 99,
		.freq = 1,
		.disabled = 1,
	};
	int event, prog, err = 0;

	event = (int)perf_event_open(&attr, 0);
	if (event < 0)
		return neg_errno();
	prog = bpf_prog_load(BPF_PROG_TYPE_PERF_EVENT, "check_perf", "GPL", return_zero,
			     ARRAY_SIZE(return_zero), NULL);
	if (prog < 0)
		err = neg_errno();
	else if (ioctl(event, PERF_EVENT_IOC_SET_BPF, prog))
		err = neg_errno();
	close_fd(prog);
	close(event);
	return err;
}

/* BPF_ENABLE_STATS: what makes the per-program run counts and times real. */
static int probe_bpf_stats(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	if (fd < 0)
		return neg_errno();
	close(fd);
	return 0;
}

static int read_int(const char *path, int *value)
{
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return neg_errno();
	ok = fscanf(f, "%d", value) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

/* A kprobe through the perf kprobe PMU; without CONFIG_KPROBES the PMU does not exist. */
static int probe_kprobe(void)
{
	struct perf_event_attr attr = { .size = sizeof(attr) };
	int type, event, err;

	err = read_int(KPROBE_PMU_TYPE, &type);
	if (err)
		return err;
	attr.type = (__u32)type;
	attr.kprobe_func = (__u64)(uintptr_t)KPROBE_TARGET;
	event = (int)perf_event_open(&attr, 0);
	if (event < 0)
		return neg_errno();
	close(event);
	return 0;
}

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
	struct btf *vmlinux = NULL;
	struct utsname uts;
	char cap_eff[32];
	int stats_sysctl = -1;

	/* Failures are reported in the JSON; libbpf's own lines would only repeat them. */
	libbpf_set_print(NULL);
	uname(&uts);
	read_cap_eff(cap_eff, sizeof(cap_eff));
	read_int("/proc/sys/kernel/bpf_stats_enabled", &stats_sysctl);

	printf("{\"helper\":\"%s\",\"kernel\":\"%s\",\"libbpf\":\"%u.%u\",\"cap_eff\":\"%s\","
	       "\"bpf_stats_sysctl\":%d,\"probes\":{",
	       HELPER_VERSION, uts.release, libbpf_major_version(), libbpf_minor_version(),
	       cap_eff, stats_sysctl);
	print_probe("btf", probe_btf(&vmlinux), ",");
	print_probe("ringbuf", probe_ringbuf(), ",");
	print_probe("tp_btf", probe_tp_btf(vmlinux), ",");
	print_probe("perf_event", probe_perf_event(), ",");
	print_probe("bpf_stats", probe_bpf_stats(), ",");
	print_probe("kprobe", probe_kprobe(), "");
	printf("}}\n");
	btf__free(vmlinux);
	if (fflush(stdout) || ferror(stdout)) {
		diag("writing the check report to stdout failed: %s", strerror(errno));
		return EXIT_OUTPUT_FAILED;
	}
	return EXIT_CLEAN;
}
