import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { instrumentSessions } from "latchkey/metrics";

/**
 * The app's Prometheus endpoint: `GET /metrics` on a listener of its own (METRICS_PORT, METRICS_HOST),
 * never on the site's port, so that the metrics are reachable only where the operator opens them.
 * latchkey's metrics (`latchkey/metrics`) are recorded on an OpenTelemetry SDK meter and read by the
 * Prometheus exporter at each scrape.
 */
export interface MetricsServer {
  /** The address it listens on (the port is the real one when METRICS_PORT was 0). */
  readonly address: AddressInfo;
  close(): Promise<void>;
}

export async function startMetricsServer(options: { port: number; host: string }): Promise<MetricsServer> {
  // The exporter is also the SDK's reader; it answers scrapes through our listener, not its own.
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({
    readers: [exporter],
    // OpenTelemetry puts a duration's unit in its metadata (`latchkey.store.duration`, unit "s");
    // Prometheus wants it in the name, and this exporter (0.223) does not add it: the name says it here.
    views: [{ instrumentName: "latchkey.store.duration", name: "latchkey.store.duration.seconds" }],
  });
  const instrumentation = instrumentSessions({ meter: provider.getMeter("latchkey") });
  const server: Server = createServer((request, response) => {
    if (request.method === "GET" && request.url?.split("?", 1)[0] === "/metrics") {
      exporter.getMetricsRequestHandler(request, response);
      return;
    }
    response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
  });
  const stop = async (): Promise<void> => {
    instrumentation.stop();
    await provider.shutdown();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => resolve());
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    address: server.address() as AddressInfo,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
    },
  };
}
