import { Counter, Gauge, Histogram, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration, type Registry } from 'prom-client';

/*
 * The one way a component registers a metric: get-or-create on the registry it is given. A
 * host that rebuilds a component (a restarted sink, a stage built again in a test) keeps the
 * same registry, and prom-client refuses a second registration of a name. Every metric a
 * component owns is listed in docs/metrics.md (a test checks it).
 */

type Config<C> = Omit<C, 'registers'>;

export function counter<L extends string = string>(registry: Registry, config: Config<CounterConfiguration<L>>): Counter<L> {
  return (registry.getSingleMetric(config.name) as Counter<L> | undefined) ?? new Counter<L>({ ...config, registers: [registry] });
}

export function gauge<L extends string = string>(registry: Registry, config: Config<GaugeConfiguration<L>>): Gauge<L> {
  return (registry.getSingleMetric(config.name) as Gauge<L> | undefined) ?? new Gauge<L>({ ...config, registers: [registry] });
}

export function histogram<L extends string = string>(registry: Registry, config: Config<HistogramConfiguration<L>>): Histogram<L> {
  return (registry.getSingleMetric(config.name) as Histogram<L> | undefined) ?? new Histogram<L>({ ...config, registers: [registry] });
}
