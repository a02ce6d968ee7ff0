/* The JSON frames. They are rare, so they are built with stdio in a memory stream. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>

#include "announce.h"
#include "helper.h"
#include "output.h"

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Close the stream and send what it holds as one frame. */
static int send_json(FILE *f, char **buf, size_t *len, enum frame_kind kind)
{
	int err = fclose(f) ? -ENOMEM : output_frame(kind, 0, *buf, *len);

	free(*buf);
	return err;
}

/* The fields both HELLO shapes start with, up to and including "ncpus". */
static void hello_begin(FILE *f)
{
	struct utsname uts;

	if (uname(&uts))
		uts.release[0] = '\0';
	fprintf(f, "{\"protocol\":%d,\"helper\":\"%s\",\"kernel\":", BPFWASM_PROTOCOL_VERSION, HELPER_VERSION);
	json_string(f, uts.release);
	fprintf(f, ",\"pid\":%d,\"ncpus\":%d", (int)getpid(), libbpf_num_possible_cpus());
}

int announce_hello(const struct sensor_def *const *sensors, size_t n)
{
	char *buf;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	hello_begin(f);
	fputs(",\"sensors\":[", f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s{\"id\":%zu,\"name\":", i ? "," : "", i);
		json_string(f, sensors[i]->name);
		fputs(",\"programs\":[", f);
		for (size_t p = 0; sensors[i]->programs[p]; p++) {
			if (p)
				fputc(',', f);
			json_string(f, sensors[i]->programs[p]);
		}
		fputs("],\"record_types\":[", f);
		for (const struct record_def *r = sensors[i]->records; r->type; r++)
			fprintf(f, "%s%u", r == sensors[i]->records ? "" : ",", r->type);
		/* In order of preference: the first is the primary route, any other a fallback. */
		fputs("],\"routes\":[", f);
		for (const struct route_def *r = sensors[i]->routes; r && r->name; r++) {
			if (r != sensors[i]->routes)
				fputc(',', f);
			json_string(f, r->name);
		}
		fputs("]}", f);
	}
	fputs("]}", f);
	return send_json(f, &buf, &len, FRAME_HELLO);
}

int announce_hello_profile(const struct profile_options *opts)
{
	char *buf;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	hello_begin(f);
	fprintf(f, ",\"sensors\":[],\"mode\":\"profile\",\"profile\":{\"hz\":%u,\"seconds\":%u,"
		"\"pid\":%u,\"cgroup\":%llu,\"kernel\":%s,\"user\":%s,\"include_idle\":%s}}",
		opts->hz, opts->seconds, opts->pid, (unsigned long long)opts->cgroup_id,
		opts->kernel ? "true" : "false", opts->user ? "true" : "false",
		opts->include_idle ? "true" : "false");
	return send_json(f, &buf, &len, FRAME_HELLO);
}

int announce_ready(double load_ms, double attach_ms, const struct sensor *attached, size_t n,
		   const struct sensor_failure *failed, size_t nfailed)
{
	char *buf;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	bool any_route = false;

	if (!f)
		return -ENOMEM;
	fprintf(f, "{\"load_ms\":%.3f,\"attach_ms\":%.3f,\"sensors\":[", load_ms, attach_ms);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? "," : "", f);
		json_string(f, attached[i].def->name);
	}
	fputs("],\"failed\":[", f);
	for (size_t i = 0; i < nfailed; i++) {
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		json_string(f, failed[i].def->name);
		fputs(",\"step\":", f);
		json_string(f, failed[i].step);
		fprintf(f, ",\"errno\":%d,\"error\":", failed[i].err);
		json_string(f, failed[i].error);
		if (failed[i].route) {
			fputs(",\"route\":", f);
			json_string(f, failed[i].route);
		}
		fputc('}', f);
	}
	fputs("],\"routes\":{", f);
	for (size_t i = 0; i < n; i++) {
		if (!attached[i].route)
			continue;
		fputs(any_route ? "," : "", f);
		json_string(f, attached[i].def->name);
		fputc(':', f);
		json_string(f, attached[i].route);
		any_route = true;
	}
	fputs("}}", f);
	return send_json(f, &buf, &len, FRAME_READY);
}

int announce_log(const char *level, const char *fmt, ...)
{
	char *buf, *msg;
	size_t len;
	va_list args;
	FILE *f;
	int ret;

	va_start(args, fmt);
	ret = vasprintf(&msg, fmt, args);
	va_end(args);
	if (ret < 0)
		return -ENOMEM;
	f = open_memstream(&buf, &len);
	if (!f) {
		free(msg);
		return -ENOMEM;
	}
	fputs("{\"level\":", f);
	json_string(f, level);
	fputs(",\"msg\":", f);
	json_string(f, msg);
	fputc('}', f);
	free(msg);
	return send_json(f, &buf, &len, FRAME_LOG);
}
