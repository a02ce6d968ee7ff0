// The reason a sensor is off is one line picked from libbpf's output (diag.c): the verifier's own
// message when there is a verifier log, else libbpf's first line. diag.c is compiled here with a
// probe that hands it libbpf output through the real libbpf print callback.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EBPF_DIR } from '../../test/support/helper-run.js';

// Feeds stdin to libbpf's print callback (as one libbpf message: libbpf logs a verifier log so)
// while diag.c captures, then prints the line it picks.
const PROBE = `
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>
#include "helper.h"

static int print(libbpf_print_fn_t fn, const char *fmt, ...)
{
	va_list args;
	int ret;

	va_start(args, fmt);
	ret = fn(LIBBPF_WARN, fmt, args);
	va_end(args);
	return ret;
}

int main(void)
{
	static char text[1 << 16], line[256];
	size_t n = fread(text, 1, sizeof(text) - 1, stdin);
	libbpf_print_fn_t fn;

	text[n] = 0;
	diag_route_libbpf();
	fn = libbpf_set_print(NULL);
	diag_capture_begin();
	if (n)
		print(fn, "%s", text);
	diag_capture_first_error(line, sizeof(line));
	diag_capture_end(false);
	fputs(line, stdout);
	return 0;
}
`;

let probe: string;
beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfwasm-first-error-'));
  writeFileSync(join(dir, 'probe.c'), PROBE);
  probe = join(dir, 'probe');
  execFileSync('cc', ['-std=gnu11', '-Wall', '-Werror', '-I', join(EBPF_DIR, 'helper'), '-o', probe,
    join(dir, 'probe.c'), join(EBPF_DIR, 'helper', 'diag.c'), '-lbpf']);
});

const firstError = (libbpfOutput: string) => execFileSync(probe, { input: libbpfOutput, encoding: 'utf8' });

describe('the first meaningful error line', () => {
  it.each([
    ['a verifier refusal before any instruction (this kernel, --test-unloadable)', `libbpf: prog 'handle_set_state': BPF program load failed: Invalid argument
libbpf: prog 'handle_set_state': -- BEGIN PROG LOAD LOG --
Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable
processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
-- END PROG LOAD LOG --
libbpf: prog 'handle_set_state': failed to load: -22
libbpf: failed to load object 'tcp_bpf'
libbpf: failed to load BPF skeleton 'tcp_bpf': -22
`, "prog 'handle_set_state': Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable"],
    ['a message of two lines after the instruction trace: its first', `libbpf: prog 'handle_exec': BPF program load failed: Permission denied
libbpf: prog 'handle_exec': -- BEGIN PROG LOAD LOG --
0: R1=ctx() R10=fp0
; int handle_exec(u64 *ctx) @ process.bpf.c:30
0: (79) r6 = *(u64 *)(r1 +8)
func 'sched_process_exec' arg1 type STRUCT is not a struct
invalid bpf_context access off=8 size=8
processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
-- END PROG LOAD LOG --
libbpf: prog 'handle_exec': failed to load: -13
libbpf: failed to load object 'process_bpf'
`, "prog 'handle_exec': func 'sched_process_exec' arg1 type STRUCT is not a struct"],
    ['an unknown helper, after a "Validating" preamble and branch states', `libbpf: prog 'oom_victim': BPF program load failed: Invalid argument
libbpf: prog 'oom_victim': -- BEGIN PROG LOAD LOG --
Validating oom_victim() func#0...
0: R1=ctx() R10=fp0
from 3 to 5: R0=scalar() R10=fp0
5: (85) call bpf_get_current_task_btf#158
unknown func bpf_get_current_task_btf#158
processed 6 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
-- END PROG LOAD LOG --
`, "prog 'oom_victim': unknown func bpf_get_current_task_btf#158"],
    ['a register message that is not register state', `libbpf: prog 'p': -- BEGIN PROG LOAD LOG --
0: (95) exit
R0 !read_ok
processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
-- END PROG LOAD LOG --
`, "prog 'p': R0 !read_ok"],
    ['no verifier log (a hook this kernel lacks): libbpf\'s first line, not its last', `libbpf: prog 'handle_set_state': failed to find kernel BTF type ID of 'inet_sock_set_state': -3
libbpf: prog 'handle_set_state': failed to prepare load attributes: -3
libbpf: prog 'handle_set_state': failed to load: -3
libbpf: failed to load object 'tcp_bpf'
libbpf: failed to load BPF skeleton 'tcp_bpf': -3
`, "prog 'handle_set_state': failed to find kernel BTF type ID of 'inet_sock_set_state': -3"],
    ['an attach failure', `libbpf: prog 'oom_victim': failed to attach: Invalid argument
libbpf: failed to auto-attach program 'oom_victim': -22
`, "prog 'oom_victim': failed to attach: Invalid argument"],
    ['a verifier log with only statistics: libbpf\'s first line', `libbpf: prog 'p': BPF program load failed: Invalid argument
libbpf: prog 'p': -- BEGIN PROG LOAD LOG --
processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
-- END PROG LOAD LOG --
`, "prog 'p': BPF program load failed: Invalid argument"],
    ['nothing from libbpf', '', ''],
  ])('%s', (_, output, expected) => {
    expect(firstError(output)).toBe(expected);
  });

  it('is cut to the caller\'s buffer', () => {
    const line = firstError(`libbpf: ${'x'.repeat(1000)}\n`);
    expect(line).toBe('x'.repeat(255));
  });
});
