import { describe, expect, it } from 'vitest';
import { boundedLabel, metricsPortFromEnv, requestOutcome, samplerFromEnv, tracingEnabled, validTraceparent } from '../runtime/telemetry.js';

describe('telemetry settings', () => {
  it('traces only when an OTLP endpoint is set and the SDK is not disabled', () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingEnabled({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
  });

  it('reads the sampler as the specification names it', () => {
    expect(samplerFromEnv({}).toString()).toMatch(/ParentBased\{root=AlwaysOnSampler/);
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_off' }).toString()).toBe('AlwaysOffSampler');
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).toString()).toMatch(/root=TraceIdRatioBased\{0\.25\}/);
    // A ratio outside [0, 1] falls back to 1 rather than failing the service.
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '7' }).toString()).toBe('TraceIdRatioBased{1}');
  });

  it('accepts only well-formed traceparent headers', () => {
    expect(validTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBeDefined();
    expect(validTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined();
    expect(validTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01')).toBeUndefined();
    expect(validTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01')).toBeUndefined();
    expect(validTraceparent(undefined)).toBeUndefined();
  });

  it('caps the distinct values of a label and refuses odd ones', () => {
    const seen = new Set<string>();
    expect(boundedLabel(seen, undefined)).toBe('none');
    expect(boundedLabel(seen, 'Chart', 2)).toBe('Chart');
    expect(boundedLabel(seen, 'Timeline', 2)).toBe('Timeline');
    expect(boundedLabel(seen, 'Third', 2)).toBe('other');
    expect(boundedLabel(seen, 'Chart', 2)).toBe('Chart');
    expect(boundedLabel(new Set(), 'bad\nname')).toBe('other');
  });

  it('names request outcomes', () => {
    expect(requestOutcome(200, true, 0)).toBe('ok');
    expect(requestOutcome(200, true, 1)).toBe('partial');
    expect(requestOutcome(400, true, 1)).toBe('client_error');
    expect(requestOutcome(503, true, 1)).toBe('server_error');
    expect(requestOutcome(200, false, 0)).toBe('aborted');
  });

  it('reads metrics ports', () => {
    expect(metricsPortFromEnv('GATEWAY', {})).toBeUndefined();
    expect(metricsPortFromEnv('GATEWAY', { GATEWAY_METRICS_PORT: '9400' })).toBe(9400);
    expect(() => metricsPortFromEnv('LABS', { LABS_METRICS_PORT: 'x' })).toThrow(/LABS_METRICS_PORT/);
  });
});
