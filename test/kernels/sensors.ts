// The default sensors' kernel-matrix cases, each in its sensor's folder, in the order the VM runs them.
import { matrixCase as blockio } from '../../ebpf/blockio/kernel-matrix.js';
import { matrixCase as oom } from '../../ebpf/oom/kernel-matrix.js';
import { matrixCase as processCase } from '../../ebpf/process/kernel-matrix.js';
import { matrixCase as runqlat } from '../../ebpf/runqlat/kernel-matrix.js';
import { matrixCase as tcp } from '../../ebpf/tcp/kernel-matrix.js';
import type { SensorCase } from './case.js';

export const SENSOR_CASES: readonly SensorCase[] = [processCase, tcp, blockio, runqlat, oom];
