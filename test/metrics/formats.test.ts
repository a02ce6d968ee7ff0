import { describe, expect, it } from 'vitest';
import { negotiate, type Format } from '../../src/metrics/formats.js';

const PROMETHEUS_2_42 =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const PROMETHEUS_2_42_NATIVE =
  'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';
const OM = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
const OM_0_0_1 = 'application/openmetrics-text; version=0.0.1; charset=utf-8';
const TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const PROTO = 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited';

describe('negotiate', () => {
  it.each<[string, string | undefined, Format, string]>([
    ['Prometheus 2.42', PROMETHEUS_2_42, 'openmetrics', OM],
    ['Prometheus 2.42 with native histograms', PROMETHEUS_2_42_NATIVE, 'protobuf', PROTO],
    ['no header', undefined, 'text', TEXT],
    ['an empty header', '', 'text', TEXT],
    ['curl', '*/*', 'text', TEXT],
    ['text/plain without version', 'text/plain', 'text', TEXT],
    ['only unsupported types', 'application/json, text/html;q=0.9', 'text', TEXT],
    ['an unsupported text version', 'text/plain;version=9.9.9', 'text', TEXT],
    ['OpenMetrics 0.0.1 only', 'application/openmetrics-text;version=0.0.1', 'openmetrics', OM_0_0_1],
    ['OpenMetrics without version', 'application/openmetrics-text', 'openmetrics', OM],
    ['an unsupported OpenMetrics version', 'application/openmetrics-text;version=2.0.0,text/plain;q=0.1', 'text', TEXT],
    ['protobuf text encoding (unsupported)', 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text', 'text', TEXT],
    ['protobuf without proto', 'application/vnd.google.protobuf;encoding=delimited', 'text', TEXT],
    ['a higher q later in the list', 'text/plain;q=0.5, application/openmetrics-text;q=0.9', 'openmetrics', OM],
    ['equal q: the first listed', 'text/plain, application/openmetrics-text', 'text', TEXT],
    ['equal q: the more specific', '*/*, application/openmetrics-text', 'openmetrics', OM],
    ['q=0 means not acceptable', 'application/openmetrics-text;q=0, text/plain;q=0.1', 'text', TEXT],
    ['a wildcard preferred by q', '*/*;q=0.9, application/openmetrics-text;q=0.5', 'text', TEXT],
    ['text/* ', 'text/*;q=0.8, application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7', 'text', TEXT],
    ['case and quoted parameters', 'Application/OpenMetrics-Text; Version="1.0.0"; Q=1', 'openmetrics', OM],
    ['spaces and a stray semicolon', ' application/vnd.google.protobuf ; proto=io.prometheus.client.MetricFamily ; encoding=delimited ; ', 'protobuf', PROTO],
    ['a comma inside quotes', 'text/plain;x="a,b";q=0.2, application/openmetrics-text;q=0.1', 'text', TEXT],
    ['malformed ranges are skipped', 'garbage, /, a/b/c, application/openmetrics-text', 'openmetrics', OM],
    ['an invalid q is skipped', 'application/openmetrics-text;q=2, text/plain;q=0.1', 'text', TEXT],
  ])('%s', (_name, accept, format, contentType) => {
    expect(negotiate(accept)).toEqual({ format, contentType });
  });

  it('leaves OpenMetrics out when asked (for /federate, like Prometheus)', () => {
    expect(negotiate(PROMETHEUS_2_42, { openMetrics: false })).toEqual({ format: 'text', contentType: TEXT });
    expect(negotiate(PROMETHEUS_2_42_NATIVE, { openMetrics: false }).format).toBe('protobuf');
  });
});
