// Types for @sentinel-monitor/sensor. The package has no runtime dependencies; the Express and
// Fastify types below are structural so that neither framework's types are required.

/** The request as the tenant function sees it: Express's `req` or Fastify's `request`. */
export interface SensorRequest {
  headers: Record<string, string | string[] | undefined>;
  [key: string]: any;
}

export interface SensorOptions {
  /**
   * `http(s)://PUBLIC_KEY@host[:port][/prefix]/PROJECT_ID`. Defaults to `SENTINEL_DSN`; with
   * neither, the sensor is off (records are dropped and counted, nothing is sent).
   */
  dsn?: string;
  /** How often queued records are sent, in ms. Default 1000. */
  flushIntervalMs?: number;
  /** Records per request to Sentinel; reaching it also starts a send at once. Default 1000. */
  maxBatch?: number;
  /** Records held at most, including a batch being sent or waiting to be retried. Default 10000. */
  maxQueue?: number;
  /** Time limit of one request to Sentinel, and the default for `flush`/`close`, in ms. Default 5000. */
  timeoutMs?: number;
  /**
   * The request's tenant, read when the response finishes. Default: the `x-tenant-id` header.
   * `undefined`, `null` or `''` means no tenant. Exceptions are swallowed (no tenant).
   */
  tenant?: (req: SensorRequest) => string | number | null | undefined;
}

/** One request as recorded; the sensor fills in what is missing. */
export interface RequestEvent {
  tenant_id?: string | number | null;
  /** The route template, e.g. `/v1/items/:id` (cut to 200 characters). */
  endpoint: string;
  method?: string;
  status_code: number;
  latency_ms: number;
  /** Seconds since the epoch; default now. */
  timestamp?: number;
}

export interface SensorStats {
  /** Records Sentinel accepted. */
  sent: number;
  /** Records discarded unsent: queue full, sensor closed or off, key refused (403), other 4xx. */
  dropped: number;
  /** Records Sentinel (or the sensor, for an impossible status code) found invalid. */
  rejected: number;
  /** Records held now, including a batch in flight or waiting to be retried. */
  queued: number;
  /** Errors swallowed: failed sends (network, timeouts, non-2xx answers) and exceptions in hooks. */
  errors: number;
}

export interface Sensor {
  /** Queues one record; never throws or waits. `false` when it was dropped or invalid. */
  record(evt: RequestEvent): boolean;
  /** Sends everything queued; `true` when nothing is left, `false` at the deadline. Never rejects. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Stops the timer, drops later records, and flushes. */
  close(timeoutMs?: number): Promise<boolean>;
  stats(): SensorStats;
  /** The tenant function in use (the option, or the `x-tenant-id` header). */
  readonly tenant: (req: SensorRequest) => string | number | null | undefined;
}

export function createSensor(options?: SensorOptions): Sensor;

export interface ExpressMiddleware {
  (req: any, res: any, next: (err?: any) => void): void;
  /** The sensor this middleware records to. */
  sensor: Sensor;
}

/** Express middleware: mount it before the routes. */
export function sentinelExpress(sensorOrOptions?: Sensor | SensorOptions | { sensor: Sensor }): ExpressMiddleware;

/**
 * Fastify plugin (hooks apply app-wide): `app.register(sentinelFastify, { sensor })` or
 * `app.register(sentinelFastify, { dsn, ... })`. Decorates the instance with `sentinelSensor`.
 */
export function sentinelFastify(fastify: any, options: Sensor | SensorOptions | { sensor: Sensor }, done: (err?: Error) => void): void;

/** The route name used for requests no route matched: ids become `:id`, the query is dropped. */
export function normalizePath(url: string): string;
