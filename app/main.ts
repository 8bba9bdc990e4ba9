/**
 * The app's entry point (`npm start`): reads the configuration from the environment, listens, and shuts
 * down gracefully on SIGTERM or SIGINT (stop accepting, finish requests in flight, close Redis).
 */
import { buildApp } from "./app.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { startMetricsServer } from "./metrics-server.js";

/** How long a graceful shutdown may take before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`latchkey app: invalid configuration: ${error.message}`);
  process.exit(1);
}

const app = await buildApp(config);

try {
  await app.listen({ port: config.port, host: config.host });
} catch (error) {
  app.log.fatal({ reason: (error as Error).message }, "cannot listen");
  await app.close().catch(() => {});
  process.exit(1);
}

// Prometheus scrapes its own listener (METRICS_PORT), never the site's port.
const metrics = config.metrics
  ? await startMetricsServer(config.metrics).catch(async (error: unknown) => {
      app.log.fatal({ reason: (error as Error).message }, "cannot listen for metrics (METRICS_PORT)");
      await app.close().catch(() => {});
      process.exit(1);
    })
  : undefined;
if (metrics) app.log.info({ address: metrics.address }, "metrics for Prometheus at /metrics");

let closing = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, "shutting down");
    const force = setTimeout(() => {
      app.log.error("shutdown took too long, exiting");
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    Promise.all([app.close(), metrics?.close()]).then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}
