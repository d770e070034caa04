import { createHash, timingSafeEqual } from 'node:crypto';
import { LicensorError } from '@licensor/shared';
import type { NextFunction, Request, Response } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one app instance (its own registry, so tests can build many apps). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'licensor_' });
  const httpDuration = new Histogram({
    name: 'licensor_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const marketplaceResults = new Counter({
    name: 'licensor_marketplace_requests_total',
    help: 'Production-interface requests by activity and result code',
    labelNames: ['activity', 'result_code'] as const,
    registers: [registry],
  });
  const activations = new Counter({
    name: 'licensor_activations_total',
    help: 'Client activations by outcome code',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const refusedRequests = new Counter({
    name: 'licensor_marketplace_refused_requests_total',
    help: 'Production-interface and Kit requests refused before authentication, by path',
    labelNames: ['path'] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'licensor_rate_limited_requests_total',
    help: 'Requests answered 429 by a per-address limit, by door (marketplace, admin)',
    labelNames: ['door'] as const,
    registers: [registry],
  });
  const outboxDepth = new Gauge({
    name: 'licensor_outbox_items',
    help: 'Outbox items waiting, running or failed',
    labelNames: ['status'] as const,
    registers: [registry],
  });

  const middleware = (req: Request, res: Response, next: NextFunction) => {
    const end = httpDuration.startTimer();
    res.on('finish', () => {
      // Route patterns, never raw paths, keep label cardinality bounded.
      // Mount paths match in any letter case: labels use the documented lower-case pattern. A request refused
      // before any route (rate limit, body limit, admin auth) is labelled with the router it reached.
      const routePath = req.route?.path as unknown;
      const mount = req.baseUrl.toLowerCase();
      end({
        method: req.method,
        route:
          typeof routePath === 'string'
            ? `${mount}${routePath}`
            : res.statusCode === 404
              ? 'unmatched'
              : mount || 'other',
        status: res.statusCode,
      });
    });
    next();
  };

  return {
    registry,
    httpDuration,
    marketplaceResults,
    activations,
    refusedRequests,
    rateLimited,
    outboxDepth,
    middleware,
  };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Guards /metrics on the main address: `Authorization: Bearer <LICENSOR_METRICS_TOKEN>`. Without a token
 * configured the main address does not serve metrics at all (they name routes, volumes and the outbox
 * backlog); LICENSOR_METRICS_LISTEN serves them on a separate, unauthenticated address instead.
 */
export function metricsAccess(token: string | undefined) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!token) {
      return next(
        new LicensorError(
          'NOT_FOUND',
          'Metrics are not served on this address: set LICENSOR_METRICS_TOKEN (then send Authorization: Bearer <token>) or LICENSOR_METRICS_LISTEN',
        ),
      );
    }
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m || !timingSafeEqual(digest(m[1]!), digest(token))) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="licensor-metrics"');
      return next(
        new LicensorError('UNAUTHORIZED', 'Send Authorization: Bearer <LICENSOR_METRICS_TOKEN> to read /metrics'),
      );
    }
    next();
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
