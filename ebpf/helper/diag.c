/* stderr diagnostics: our own one-liners and libbpf's warnings. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "helper.h"

static FILE *capture;
static char *capture_buf;
static size_t capture_len;

void diag(const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	fputs(HELPER_NAME ": ", stderr);
	vfprintf(stderr, fmt, args);
	fputc('\n', stderr);
	va_end(args);
}

/* Prefix every line, since libbpf messages (e.g. a verifier log) can span many. */
static void write_prefixed_lines(FILE *out, const char *text)
{
	while (*text) {
		size_t len = strcspn(text, "\n");

		fprintf(out, HELPER_NAME ": %.*s\n", (int)len, text);
		text += len;
		if (*text == '\n')
			text++;
	}
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char *text;

	if (level > LIBBPF_WARN)
		return 0;
	if (vasprintf(&text, fmt, args) < 0)
		return 0;
	write_prefixed_lines(capture ? capture : stderr, text);
	free(text);
	return 0;
}

void diag_route_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}

void diag_capture_begin(void)
{
	/* If the stream cannot be opened, warnings simply go straight to stderr. */
	capture = open_memstream(&capture_buf, &capture_len);
}

void diag_capture_end(bool print)
{
	if (!capture)
		return;
	fclose(capture);
	capture = NULL;
	if (print)
		fwrite(capture_buf, 1, capture_len, stderr);
	free(capture_buf);
	capture_buf = NULL;
	capture_len = 0;
}
