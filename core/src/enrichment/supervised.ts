import type { WorkerResources } from '../isolation/worker-plugin.js';
import { ErrorCodes, PluginError, type EnricherInstance, type EnricherLimits, type Indicator, type IndicatorType, type LookupOptions, type Verdict } from '../plugin-api/index.js';

/**
 * What the enrichment stage holds for one configured enricher: a handle, not the plugin
 * instance. The instance belongs to the enricher's collector, which creates, starts,
 * health-checks, restarts and stops it; lookups go to it only while it is started, and fail
 * fast (UNAVAILABLE, retriable) otherwise, so an enricher that cannot start costs its verdicts,
 * never the pipeline.
 */
export class SupervisedEnricher implements EnricherInstance {
  private first: { instance: EnricherInstance } | { error: unknown } | undefined;
  private current: () => EnricherInstance | undefined = () => undefined;
  /** The instance whose types and limits the stage reads (the latest one created). */
  private known: EnricherInstance | undefined;

  constructor(
    readonly id: string,
    first: { instance: EnricherInstance } | { error: unknown },
  ) {
    this.first = first;
    if ('instance' in first) this.known = first.instance;
  }

  /** The instance (or the error) of the create() done while the pipeline was built; once. */
  takeFirst(): { instance: EnricherInstance } | { error: unknown } | undefined {
    const f = this.first;
    this.first = undefined;
    return f;
  }

  /** Where the collector's worker reports go; set by attach(), used by the first instance's worker. */
  readonly workerHooks = {
    onLost: (e: PluginError): void => this.hooks?.onLost(e),
    onUsage: (u: WorkerResources): void => this.hooks?.onUsage(u),
  };
  private hooks: { onLost(e: PluginError): void; onUsage(u: WorkerResources): void } | undefined;

  /** The collector tells where its started instance is, and takes its first worker's reports. */
  attach(current: () => EnricherInstance | undefined, hooks?: { onLost(e: PluginError): void; onUsage(u: WorkerResources): void }): void {
    this.hooks = hooks;
    this.current = () => {
      const inst = current();
      if (inst) this.known = inst;
      return inst;
    };
  }

  get supports(): readonly IndicatorType[] {
    return this.known?.supports ?? [];
  }

  get limits(): EnricherLimits | undefined {
    return this.known?.limits;
  }

  get cacheKey(): (() => string) | undefined {
    const k = this.known;
    return k?.cacheKey ? () => k.cacheKey!() : undefined;
  }

  async lookup(indicators: Indicator[], options: LookupOptions): Promise<Verdict[]> {
    const inst = this.current();
    if (!inst)
      throw new PluginError(ErrorCodes.UNAVAILABLE, `enricher ${this.id} is not started (its collector is starting, restarting, stopped or failed: GET /collectors/${this.id})`, {
        retriable: true,
      });
    return inst.lookup(indicators, options);
  }
}
