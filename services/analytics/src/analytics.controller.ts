import { Inject } from '@nestjs/common';
import {
  ANALYTICS_DISMISS_SUBJECT,
  ANALYTICS_RISK_SESSIONS_SUBJECT,
  ANALYTICS_RISK_TREND_SUBJECT,
  ANALYTICS_SHADOW_REPORT_SUBJECT,
  ANALYTICS_SIMULATE_SUBJECT,
  ANALYTICS_SUGGEST_SUBJECT,
  ANALYTICS_SUMMARY_SUBJECT,
  GatewayError,
  type RequestOf,
} from '@sg/contracts';
import { BusController, Ctx, MessagePattern, Payload, type BusContext } from '@sg/messaging';
import { LOGGER, type Logger } from '@sg/runtime';
import { Queries } from './query/queries.js';
import { SimulateService } from './simulate/simulate.service.js';
import { SuggestService } from './suggest/suggest.service.js';

/** The analytics subjects: parse (by the bus), delegate, and map store failures to one code. */
@BusController()
export class AnalyticsController {
  constructor(
    private readonly queries: Queries,
    private readonly suggestions: SuggestService,
    private readonly simulations: SimulateService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @MessagePattern(ANALYTICS_SUMMARY_SUBJECT)
  summary(@Payload() q: RequestOf<typeof ANALYTICS_SUMMARY_SUBJECT>, @Ctx() ctx: BusContext) {
    return this.store(ctx, () => this.queries.summary(q));
  }

  @MessagePattern(ANALYTICS_SUGGEST_SUBJECT)
  suggest(@Payload() q: RequestOf<typeof ANALYTICS_SUGGEST_SUBJECT>, @Ctx() ctx: BusContext) {
    return this.store(ctx, () => this.suggestions.suggest(q, ctx));
  }

  @MessagePattern(ANALYTICS_DISMISS_SUBJECT)
  dismiss(@Payload() r: RequestOf<typeof ANALYTICS_DISMISS_SUBJECT>, @Ctx() ctx: BusContext) {
    return this.store(ctx, () => this.suggestions.dismiss(r));
  }

  @MessagePattern(ANALYTICS_SIMULATE_SUBJECT)
  simulate(@Payload() r: RequestOf<typeof ANALYTICS_SIMULATE_SUBJECT>, @Ctx() ctx: BusContext) {
    return this.store(ctx, () => this.simulations.simulate(r, ctx));
  }

  @MessagePattern(ANALYTICS_SHADOW_REPORT_SUBJECT)
  shadowReport(
    @Payload() q: RequestOf<typeof ANALYTICS_SHADOW_REPORT_SUBJECT>,
    @Ctx() ctx: BusContext,
  ) {
    return this.store(ctx, () => this.queries.shadowReport(q));
  }

  @MessagePattern(ANALYTICS_RISK_SESSIONS_SUBJECT)
  riskSessions(
    @Payload() q: RequestOf<typeof ANALYTICS_RISK_SESSIONS_SUBJECT>,
    @Ctx() ctx: BusContext,
  ) {
    return this.store(ctx, () => this.queries.riskSessions(q));
  }

  @MessagePattern(ANALYTICS_RISK_TREND_SUBJECT)
  riskTrend(@Payload() q: RequestOf<typeof ANALYTICS_RISK_TREND_SUBJECT>, @Ctx() ctx: BusContext) {
    return this.store(ctx, () => this.queries.riskTrend(q));
  }

  /** A GatewayError passes as it is; anything else is PostgreSQL failing: ANALYTICS.STORE_UNAVAILABLE. */
  private async store<T>(ctx: BusContext, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      this.logger.error(
        { err: (err as Error).message, trace_id: ctx.traceId, subject: ctx.subject },
        'analytics query failed',
      );
      throw new GatewayError(
        'ANALYTICS.STORE_UNAVAILABLE',
        'the analytics store (PostgreSQL) could not answer; retry shortly, and an operator should check the analytics log',
      );
    }
  }
}
