// Sends `count` log records through the OpenTelemetry JS SDK and one of its OTLP/HTTP exporters, configured
// as an application would: JSON (exporter-logs-otlp-http) or protobuf with gzip (exporter-logs-otlp-proto).
// Prints one JSON line: how many records the exporter reported as exported, and how many as failed.
import { ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as JsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';

const [url, key, service, kind, count] = process.argv.slice(2);
const Exporter = kind === 'proto' ? ProtoExporter : JsonExporter;
const inner = new Exporter({
  url: `${url}/otlp/v1/logs`,
  headers: { 'x-api-key': key },
  compression: kind === 'proto' ? 'gzip' : 'none',
});
const outcome = { exported: 0, failed: 0, errors: [] };
const exporter = {  // counts what the real exporter reports back; changes nothing it sends
  export(records, done) {
    inner.export(records, (result) => {
      if (result.code === 0) outcome.exported += records.length;
      else { outcome.failed += records.length; outcome.errors.push(String(result.error)); }
      done(result);
    });
  },
  shutdown: () => inner.shutdown(),
  forceFlush: () => inner.forceFlush(),
};
const provider = new LoggerProvider({
  resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test' }),
  processors: [new BatchLogRecordProcessor({ exporter, maxExportBatchSize: 25, scheduledDelayMillis: 20 })],
});
const logger = provider.getLogger('loglens-e2e', '1.0.0');
for (let n = 0; n < Number(count); n++) {
  const spanContext = {
    traceId: (n + 1).toString(16).padStart(32, 'a'),
    spanId: (n + 1).toString(16).padStart(16, 'b'),
    traceFlags: TraceFlags.SAMPLED,
  };
  logger.emit({
    severityNumber: n % 4 === 0 ? SeverityNumber.ERROR : SeverityNumber.INFO,
    body: `${kind} record ${n}`,
    attributes: { n, 'http.route': '/checkout', 'cart.items': n % 7 },
    context: trace.setSpanContext(ROOT_CONTEXT, spanContext),
  });
}
await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify(outcome));
