import type { Attributes } from '@opentelemetry/api';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { METER_NAME } from '../../src/telemetry/crawl-metrics';

/** One data point as a test reads it: a sum's value, or a histogram's count and sum. */
export interface Point {
  metric: string;
  attributes: Attributes;
  value: number;
  count?: number;
}

/**
 * An SDK meter whose figures go to the SDK's in-memory exporter, read on demand: the reader exports only when
 * `points()` flushes it (its interval is a day), with cumulative totals, so the last export holds everything.
 */
export function captureMetrics() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 86_400_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    meter: provider.getMeter(METER_NAME),
    /** Every data point recorded so far. */
    async points(): Promise<Point[]> {
      await reader.forceFlush();
      const points: Point[] = [];
      for (const scope of exporter.getMetrics().at(-1)?.scopeMetrics ?? []) {
        for (const metric of scope.metrics) {
          for (const point of metric.dataPoints) {
            const name = metric.descriptor.name;
            if (metric.dataPointType === DataPointType.HISTOGRAM) {
              const histogram = point.value as Histogram;
              points.push({
                metric: name,
                attributes: point.attributes,
                value: histogram.sum ?? 0,
                count: histogram.count,
              });
            } else {
              points.push({ metric: name, attributes: point.attributes, value: point.value as number });
            }
          }
        }
      }
      return points;
    },
    shutdown: () => provider.shutdown(),
  };
}
