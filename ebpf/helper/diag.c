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

/* Verifier trace: instruction ("12: (85) call ..."), source ("; x = y"), register state
 * ("R1=ctx()") and branch ("from 3 to 5: ...") lines, which precede its error message. */
static bool verifier_trace_line(const char *line, size_t len)
{
	size_t digits = strspn(line, "0123456789");

	if (!len || (digits && digits < len && line[digits] == ':') || !strncmp(line, "; ", 2) ||
	    !strncmp(line, "from ", 5))
		return true;
	return line[0] == 'R' && strspn(line + 1, "0123456789") &&
	       strcspn(line, "= ") < len && line[strcspn(line, "= ")] == '=';
}

/* The verifier's closing statistics, printed after its message. */
static bool verifier_stats_line(const char *line)
{
	return !strncmp(line, "processed ", 10) || !strncmp(line, "verification time", 17) ||
	       !strncmp(line, "stack depth", 11);
}

/* Lines of the capture without our prefix; *len excludes the newline. NULL at the end. */
static const char *next_line(const char **at, size_t *len)
{
	const char *line = *at;

	if (!*line)
		return NULL;
	*len = strcspn(line, "\n");
	*at = line + *len + (line[*len] == '\n');
	if (!strncmp(line, HELPER_NAME ": ", strlen(HELPER_NAME ": "))) {
		line += strlen(HELPER_NAME ": ");
		*len -= strlen(HELPER_NAME ": ");
	}
	return line;
}

void diag_capture_first_error(char *out, size_t size)
{
	static const char begin[] = "-- BEGIN PROG LOAD LOG --", end[] = "-- END PROG LOAD LOG --";
	const char *at, *line, *mark, *first = NULL, *prog = NULL, *error = NULL;
	size_t len, first_len = 0, prog_len = 0, error_len = 0;
	bool in_log = false, after_trace = true;

	out[0] = '\0';
	if (!capture || fflush(capture))
		return;
	/* The verifier stops at its first error and prints it last, before its statistics;
	 * an error of several lines is reported by its first. Without a verifier log, the first
	 * libbpf line is the cause and the later ones its consequences. */
	for (at = capture_buf; (line = next_line(&at, &len));) {
		if (!in_log) {
			if (strncmp(line, "libbpf: ", 8))
				continue;
			mark = memmem(line, len, begin, strlen(begin));
			if (mark) {
				in_log = after_trace = true;
				prog = line + 8;
				prog_len = mark - prog;
			} else if (!first) {
				first = line + 8;
				first_len = len - 8;
			}
		} else if (!strncmp(line, end, strlen(end)) || verifier_stats_line(line)) {
			in_log = false;
			if (error)
				break;
		} else if (verifier_trace_line(line, len)) {
			after_trace = true;
		} else if (after_trace) {
			error = line;
			error_len = len;
			after_trace = false;
		}
	}
	if (error)
		snprintf(out, size, "%.*s%.*s", (int)prog_len, prog, (int)error_len, error);
	else if (first)
		snprintf(out, size, "%.*s", (int)first_len, first);
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
