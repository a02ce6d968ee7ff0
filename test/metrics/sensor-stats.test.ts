// SensorStats: one state for what the sensors delivered, read by /metrics (through the store)
// and by the status API, so the two agree by construction; helper totals survive its restarts.
import { describe, expect, it } from 'vitest';
import { RecordType } from '../../src/ingest/generated/events.js';
import { serializeText } from '../../src/metrics/exposition.js';
import { PipelineMetrics } from '../../src/metrics/pipeline-metrics.js';
import { SeriesStore } from '../../src/metrics/store.js';

function pipeline() {
  const store = new SeriesStore({ maxSeriesPerOwner: 10, maxLabelValueBytes: 256 });
  return { store, metrics: new PipelineMetrics(store) };
}

/** Samples of `metric` in the text exposition, by their label text. */
function scraped(store: SeriesStore, metric: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of serializeText(store).toString().split('\n')) {
    const m = new RegExp(`^${metric}(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    if (m) out.set(m[1] ?? '', Number(m[2]));
  }
  return out;
}

const sumWhere = (samples: Map<string, number>, label: string) =>
  [...samples].filter(([labels]) => labels.includes(label)).reduce((n, [, v]) => n + v, 0);

describe('SensorStats', () => {
  it('exports every drop counter at zero from HELLO: "no drops" is visible, not absent', () => {
    const { store, metrics } = pipeline();
    metrics.sensors.onHello([{ name: 'process', record_types: [RecordType.process_exec] }], 2);
    expect(scraped(store, 'bpfwasm_sensor_ring_drops_total')).toEqual(new Map([['sensor="process",cpu="0"', 0], ['sensor="process",cpu="1"', 0]]));
    expect(scraped(store, 'bpfwasm_sensor_events_submitted_total').size).toBe(2);
    expect(scraped(store, 'bpfwasm_helper_records_written_total')).toEqual(new Map([['type="process_exec"', 0]]));
    expect(scraped(store, 'bpfwasm_sensor_map_full_total').size).toBe(0); // reported by the helper only when it has a value
  });

  it('never lets a helper total go backwards across helper restarts, and the status totals equal what /metrics sums', () => {
    const { store, metrics } = pipeline();
    const s = metrics.sensors;
    s.onHello([{ name: 'process', record_types: [RecordType.process_exec] }], 2);
    s.ringDrops('process', 0, 5);
    s.submitted('process', 0, 100);
    s.submitted('process', 1, 50);
    s.mapFull('process', 1, 3);
    s.programRuns('process', 'handle_exec', 40);
    s.programRunSeconds('process', 'handle_exec', 0.25);
    s.programRunSeconds('process', 'handle_exit', 0.5);
    s.rebase(); // the helper's stream ended; the next one counts from zero
    s.onHello([{ name: 'process', record_types: [RecordType.process_exec] }], 2);
    s.ringDrops('process', 0, 2);
    s.programRuns('process', 'handle_exec', 1);
    expect(scraped(store, 'bpfwasm_sensor_ring_drops_total').get('sensor="process",cpu="0"')).toBe(7);
    expect(scraped(store, 'bpfwasm_sensor_events_submitted_total').get('sensor="process",cpu="0"')).toBe(100);
    const totals = s.totalsOf('process');
    expect(totals).toEqual({ submitted: 150, ringDrops: 7, mapFull: 3, programRuns: 41, programRunSeconds: 0.75 });
    const family = { submitted: 'bpfwasm_sensor_events_submitted_total', ringDrops: 'bpfwasm_sensor_ring_drops_total',
      mapFull: 'bpfwasm_sensor_map_full_total', programRuns: 'bpfwasm_bpf_program_runs_total', programRunSeconds: 'bpfwasm_bpf_program_run_seconds_total' };
    for (const [key, metric] of Object.entries(family)) {
      expect(sumWhere(scraped(store, metric), 'sensor="process"'), metric).toBe(totals[key as keyof typeof totals]);
    }
    expect(s.totalsOf('tcp')).toEqual({ submitted: 0, ringDrops: 0, mapFull: 0, programRuns: 0, programRunSeconds: 0 });
  });

  it('counts events received per record type, and loss in the pipe as the helper\'s surplus of writes only', () => {
    const { store, metrics } = pipeline();
    const s = metrics.sensors;
    metrics.onReceived(RecordType.process_exec, 8);
    metrics.onReceived(RecordType.process_exit, 4);
    s.recordsWritten(RecordType.process_exec, 10); // 2 lost
    s.recordsWritten(RecordType.process_exit, 3); // behind what arrived (reported every interval): no loss
    s.recordsWritten(250, 5); // a type this collector does not know: nothing of it arrives
    metrics.onReceived(250, 5); // nor is it counted as received
    expect(s.eventsReceived()).toBe(12);
    expect(s.lostInPipe()).toBe(7);
    expect(scraped(store, 'bpfwasm_helper_records_written_total').get('type="type_250"')).toBe(5);
    expect(sumWhere(scraped(store, 'bpfwasm_events_received_total'), 'type=')).toBe(12);
  });

  it('compares the helper\'s writes with what had arrived when it reported them, not with what arrived since', () => {
    const { metrics } = pipeline();
    const s = metrics.sensors;
    metrics.onReceived(RecordType.process_exec, 8);
    s.recordsWritten(RecordType.process_exec, 10); // 2 lost
    metrics.onReceived(RecordType.process_exec, 5); // written after that report: neither hides the loss nor is lost
    expect(s.lostInPipe()).toBe(2);
    s.recordsWritten(RecordType.process_exec, 15); // the next report counts them
    expect(s.lostInPipe()).toBe(2);
    metrics.onReceived(RecordType.process_exec, 3);
    s.recordsWritten(RecordType.process_exec, 18);
    expect(s.lostInPipe()).toBe(2);
  });

  it('keeps one info series per sensor, and the attached state the status reads is the exported gauge', () => {
    const { store, metrics } = pipeline();
    const s = metrics.sensors;
    s.setInfo('tcp', 'starting', '', '');
    s.setInfo('tcp', 'failed', 'fentry', 'load: no BTF');
    expect(scraped(store, 'bpfwasm_sensor_info')).toEqual(new Map([['sensor="tcp",state="failed",route="fentry",reason="load: no BTF"', 1]]));
    expect(s.attached('process')).toBe(false);
    s.setAttached('process', true);
    expect([s.attached('process'), scraped(store, 'bpfwasm_sensor_attached').get('sensor="process"')]).toEqual([true, 1]);
    s.setAttached('process', false);
    expect([s.attached('process'), scraped(store, 'bpfwasm_sensor_attached').get('sensor="process"')]).toEqual([false, 0]);
  });
});
