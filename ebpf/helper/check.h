/* --check: one real attempt at each kernel feature bpfwasm relies on, as JSON on stdout. */
#ifndef CHECK_H
#define CHECK_H

/* Prints the report (src/check/ reads it) and returns the exit code: 0, or 5 if stdout failed. */
int check_main(void);

#endif /* CHECK_H */
