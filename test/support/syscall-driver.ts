// bench/syscall-driver.c for kernel tests: one process whose syscalls the bench sensor targets
// (`--set bench.tgid=PID`), pinned to a CPU and driven line by line.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const SOURCE = resolve(import.meta.dirname, '..', '..', 'bench', 'syscall-driver.c');

export class SyscallDriver {
  readonly proc: ChildProcess;
  private readonly lines: string[] = [];
  private waiter: ((l: string) => void) | undefined;

  /** Compiles the driver into `dir` and starts it pinned to `cpu`; `pid()` then gives its process id. */
  constructor(dir: string, cpu = 0) {
    const bin = join(dir, 'syscall-driver');
    execFileSync('cc', ['-O2', '-o', bin, SOURCE]);
    this.proc = spawn(bin, [String(cpu)], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(l);
      } else this.lines.push(l);
    });
  }

  next(): Promise<string> {
    return new Promise((ok) => (this.lines.length ? ok(this.lines.shift()!) : (this.waiter = ok)));
  }

  /** Its process id, from its `ready PID` line (call once, first). */
  async pid(): Promise<number> {
    return Number((await this.next()).split(' ')[1]);
  }

  /** getppid `rate` times a second (0: flat out) for `seconds`; resolves with the calls made. */
  async calls(rate: number, seconds: number): Promise<number> {
    const reply = this.next();
    this.proc.stdin!.write(`${rate} ${seconds}\n`);
    return Number((await reply).split(' ')[0]);
  }

  /** Stops it (stdin EOF). */
  stop(): void {
    this.proc.stdin?.end();
  }
}
