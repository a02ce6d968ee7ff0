/* Kernel feature probes, each doing the real thing once (create the map, load and attach
 * the program, open the event). The sensors' route choice and --check share them. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "helper.h"
#include "probe.h"

#define KPROBE_PMU_TYPE "/sys/bus/event_source/devices/kprobe/type"

/* `r0 = 0; exit`: the smallest program the verifier accepts, for any program type. */
static const struct bpf_insn return_zero[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

static struct btf *kernel_btf;
static int kernel_btf_err;

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

/* The helper links with --wrap for both (ebpf/Makefile): __real_ are libbpf's own. */
struct btf *__real_btf__load_vmlinux_btf(void);
void __real_btf__free(struct btf *btf);

struct btf *probe_kernel_btf(void)
{
	if (!kernel_btf && !kernel_btf_err) {
		kernel_btf = access(KERNEL_BTF_PATH, R_OK) ? NULL : __real_btf__load_vmlinux_btf();
		if (!kernel_btf)
			kernel_btf_err = neg_errno();
	}
	errno = -kernel_btf_err;
	return kernel_btf;
}

/* libbpf parses the kernel BTF for each object it loads and frees it after: with these, every
 * sensor's load uses the probes' one parse (libbpf only reads it) until probe_free. */
struct btf *__wrap_btf__load_vmlinux_btf(void)
{
	return probe_kernel_btf();
}

void __wrap_btf__free(struct btf *btf)
{
	if (btf != kernel_btf)
		__real_btf__free(btf);
}

void probe_free(void)
{
	__real_btf__free(kernel_btf);
	kernel_btf = NULL;
	kernel_btf_err = 0;
}

int probe_btf(void)
{
	return probe_kernel_btf() ? 0 : -errno;
}

/* The BTF id of `name` of `kind` in the kernel, or a negative errno. */
static int kernel_type_id(const char *name, __u32 kind)
{
	struct btf *btf = probe_kernel_btf();
	int id;

	if (!btf)
		return -errno;
	id = btf__find_by_name_kind(btf, name, kind);
	return id < 0 ? -ENOENT : id;
}

/* The function prototype behind btf_trace_<name> (a typedef of a pointer to it). */
static const struct btf_type *tracepoint_proto(const char *name)
{
	char typedef_name[128];
	const struct btf_type *t;
	int id;

	snprintf(typedef_name, sizeof(typedef_name), "btf_trace_%s", name);
	id = kernel_type_id(typedef_name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return NULL;
	t = btf__type_by_id(kernel_btf, id);
	t = btf__type_by_id(kernel_btf, t->type);
	if (!t || !btf_is_ptr(t))
		return NULL;
	t = btf__type_by_id(kernel_btf, t->type);
	return t && btf_is_func_proto(t) ? t : NULL;
}

int probe_tracepoint_args(const char *name)
{
	const struct btf_type *proto = tracepoint_proto(name);

	/* The first parameter is the tracepoint's own context pointer, not an argument. */
	return proto && btf_vlen(proto) ? btf_vlen(proto) - 1 : -ENOENT;
}

int probe_tracepoint_arg_struct(const char *name, int index, const char *type)
{
	const struct btf_type *proto = tracepoint_proto(name);
	const struct btf_type *t;

	if (!proto || index + 1 >= btf_vlen(proto))
		return -ENOENT;
	t = btf__type_by_id(kernel_btf, btf_params(proto)[index + 1].type);
	if (!t || !btf_is_ptr(t))
		return -ENOENT;
	t = btf__type_by_id(kernel_btf, btf__resolve_type(kernel_btf, t->type));
	return t && btf_is_struct(t) && !strcmp(btf__name_by_offset(kernel_btf, t->name_off), type)
		       ? 0 : -ENOENT;
}

/* Loads `r0 = 0; exit` as a tracing program of `attach_type` on kernel BTF id `id` and
 * attaches it (the raw tracepoint open is how tp_btf and fentry links are made). */
static int load_and_attach_tracing(int id, enum bpf_attach_type attach_type)
{
	int prog, link, err = 0;

	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach_type,
		    .attach_btf_id = (__u32)id);
	prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "probe_tracing", "GPL", return_zero,
			     ARRAY_SIZE(return_zero), &opts);
	if (prog < 0)
		return neg_errno();
	link = bpf_raw_tracepoint_open(NULL, prog);
	if (link < 0)
		err = neg_errno();
	close_fd(link);
	close(prog);
	/* The kernel's internal ENOTSUPP (no trampolines on this arch, e.g. arm64 6.1), which
	 * strerror cannot name. */
	return err == -524 ? -EOPNOTSUPP : err;
}

int probe_tp_btf(const char *name)
{
	char typedef_name[128];
	int id;

	snprintf(typedef_name, sizeof(typedef_name), "btf_trace_%s", name);
	id = kernel_type_id(typedef_name, BTF_KIND_TYPEDEF);
	return id < 0 ? id : load_and_attach_tracing(id, BPF_TRACE_RAW_TP);
}

int probe_fentry(const char *func)
{
	int id = kernel_type_id(func, BTF_KIND_FUNC);

	return id < 0 ? id : load_and_attach_tracing(id, BPF_TRACE_FENTRY);
}

int probe_ringbuf(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "bpfwasm_check", 0, 0,
				(__u32)sysconf(_SC_PAGESIZE), NULL);

	if (fd < 0)
		return neg_errno();
	close(fd);
	return 0;
}

int probe_perf_event(void)
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

int probe_bpf_stats(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	if (fd < 0)
		return neg_errno();
	close(fd);
	return 0;
}

int probe_read_int(const char *path, int *value)
{
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return neg_errno();
	ok = fscanf(f, "%d", value) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

int probe_kprobe(const char *func)
{
	struct perf_event_attr attr = { .size = sizeof(attr) };
	int type, event, err;

	err = probe_read_int(KPROBE_PMU_TYPE, &type);
	if (err)
		return err;
	attr.type = (__u32)type;
	attr.kprobe_func = (__u64)(uintptr_t)func;
	event = (int)perf_event_open(&attr, 0);
	if (event < 0)
		return neg_errno();
	close(event);
	return 0;
}
