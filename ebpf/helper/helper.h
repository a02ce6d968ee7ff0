/* Things every helper file needs: exit codes (PROTOCOL.md) and stderr diagnostics. */
#ifndef HELPER_H
#define HELPER_H

#include <stdbool.h>
#include <stddef.h>

#define HELPER_NAME "bpfwasm-helper"
#define HELPER_VERSION "0.1.0"
#define KERNEL_BTF_PATH "/sys/kernel/btf/vmlinux"

enum exit_code {
	EXIT_CLEAN = 0,
	EXIT_USAGE = 1,
	EXIT_NO_BTF = 2,
	EXIT_NO_PRIVILEGE = 3,
	EXIT_SENSOR_FAILED = 4,
	EXIT_OUTPUT_FAILED = 5,
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* One stderr line, prefixed "bpfwasm-helper: ". */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Route libbpf's warnings to stderr (prefixed) and drop its info/debug chatter. */
void diag_route_libbpf(void);

/* While capturing, libbpf warnings are held back; diag_capture_end prints or drops them. */
void diag_capture_begin(void);
void diag_capture_end(bool print);
/* Of what is captured so far: the verifier's error (prefixed with its program) if a verifier
 * log is there, else the first libbpf warning; "" when there is neither. */
void diag_capture_first_error(char *out, size_t size);

/* Whether the effective capabilities allow loading tracing programs. */
bool caps_allow_tracing(void);

#endif /* HELPER_H */
