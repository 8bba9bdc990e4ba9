import type { FastifyBaseLogger, FastifyServerOptions } from "fastify";
import type { Bindings, ChildLoggerOptions } from "pino";

/** pino's standard levels, lowest first. */
const LEVELS: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

type Level = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

/**
 * Fastify gives every request a pino child logger carrying its request id. Built eagerly, that child
 * costs CPU on every request, and at the production level (warn) almost no request ever logs: on the
 * benchmark's page view it was about a microsecond of the app's overhead. This child is built on the
 * first call at an enabled level, with the same bindings, so a logged line is exactly what Fastify's
 * own child would have written.
 */
export class LazyChildLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  /** The real child, created on first use. */
  #real(): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings);
    return this.#child;
  }

  #log(level: Level, args: unknown[]): void {
    const threshold = LEVELS[this.level] ?? 0;
    if ((LEVELS[level] ?? 0) < threshold) return;
    const real = this.#real();
    Reflect.apply(real[level], real, args);
  }

  get level(): string {
    return (this.#child ?? this.#parent).level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.#log("fatal", args);
  }
  error(...args: unknown[]): void {
    this.#log("error", args);
  }
  warn(...args: unknown[]): void {
    this.#log("warn", args);
  }
  info(...args: unknown[]): void {
    this.#log("info", args);
  }
  debug(...args: unknown[]): void {
    this.#log("debug", args);
  }
  trace(...args: unknown[]): void {
    this.#log("trace", args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }
}

/**
 * Fastify's `childLoggerFactory`: a lazy child, unless the route sets its own log level or serializers
 * (then Fastify's usual eager child, which applies them).
 */
export const lazyChildLoggerFactory: NonNullable<FastifyServerOptions["childLoggerFactory"]> = (
  logger,
  bindings,
  options,
) =>
  Object.keys(options).length > 0 ? logger.child(bindings, options) : new LazyChildLogger(logger, bindings);
