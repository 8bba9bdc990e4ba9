import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
} from "@opentelemetry/sdk-metrics";
import { createSessionManager } from "../core/session-manager.js";
import { createMemoryStore } from "../stores/memory/memory-store.js";
import { instrumentSessions, STORE_DURATION_BUCKETS } from "./index.js";

/** The SDK's reader, collected on demand: what an exporter would see at its next export. */
class InMemoryReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

async function collect(reader: InMemoryReader) {
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepEqual(errors, []);
  const found = new Map<string, { unit: string; points: DataPoint<unknown>[] }>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      found.set(metric.descriptor.name, {
        unit: metric.descriptor.unit,
        points: metric.dataPoints as DataPoint<unknown>[],
      });
    }
  }
  return found;
}

const pointValue = (points: DataPoint<unknown>[] | undefined, attributes: Record<string, string>): unknown =>
  points?.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))?.value;

describe("latchkey/metrics", () => {
  it("counts creations, ends by reason, loads by result, and times store calls", async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    const instrumentation = instrumentSessions({ meter: provider.getMeter("latchkey") });
    const store = createMemoryStore();
    try {
      let ahead = 0;
      const sessions = createSessionManager({
        store,
        maxSessionsPerUser: 1,
        renewAfterSeconds: 600,
        clock: () => Date.now() + ahead,
      });
      const anonymous = await sessions.createAnonymous();
      const rotated = await sessions.rotate((await sessions.createAnonymous()).token);
      ahead = 601_000;
      await sessions.load(rotated?.token, { onRenew: () => {} });
      ahead = 0;
      const first = await sessions.promote(anonymous.token, "ada");
      await sessions.load(first.token);
      await sessions.load(first.token);
      await sessions.load("garbage");
      const second = await sessions.create("ada"); // ends the first (over the cap)
      await sessions.load(first.token);
      await sessions.destroy(second.token);
      await sessions.create("bob");
      await sessions.destroyForUser("bob");

      const found = await collect(reader);
      const created = found.get("latchkey.session.created");
      assert.equal(created?.unit, "{session}");
      assert.equal(pointValue(created?.points, { "latchkey.session.kind": "user" }), 3);
      assert.equal(pointValue(created?.points, { "latchkey.session.kind": "anonymous" }), 2);
      const changed = found.get("latchkey.session.token_changed")?.points;
      assert.equal(pointValue(changed, { "latchkey.token.change": "rotated" }), 1);
      assert.equal(pointValue(changed, { "latchkey.token.change": "renewed" }), 1);
      const destroyed = found.get("latchkey.session.destroyed")?.points;
      assert.equal(pointValue(destroyed, { "latchkey.session.end_reason": "over_cap" }), 1);
      assert.equal(pointValue(destroyed, { "latchkey.session.end_reason": "logout" }), 1);
      assert.equal(pointValue(destroyed, { "latchkey.session.end_reason": "per_user" }), 1);
      const loads = found.get("latchkey.session.load")?.points;
      assert.equal(pointValue(loads, { "latchkey.load.result": "found" }), 3);
      assert.equal(pointValue(loads, { "latchkey.load.result": "unknown" }), 1);
      assert.equal(pointValue(loads, { "latchkey.load.result": "malformed" }), 1);
      const duration = found.get("latchkey.store.duration");
      assert.equal(duration?.unit, "s");
      const loadTimes = pointValue(duration?.points, {
        "latchkey.store.operation": "load",
        "latchkey.store.kind": "memory",
      }) as Histogram;
      assert.equal(loadTimes.count, 4, "the malformed token never reached the store");
      assert.deepEqual(loadTimes.buckets.boundaries, STORE_DURATION_BUCKETS);
      const seconds = loadTimes.sum ?? Number.NaN;
      assert.ok(seconds >= 0 && seconds < 1, `${seconds} s`);
    } finally {
      instrumentation.stop();
      await store.close();
      await provider.shutdown();
    }
  });

  it("times failed store calls with their error type, and records nothing after stop()", async () => {
    const reader = new InMemoryReader();
    const provider = new MeterProvider({ readers: [reader] });
    const instrumentation = instrumentSessions({ meter: provider.getMeter("latchkey") });
    const store = createMemoryStore();
    const sessions = createSessionManager({ store });
    const { token } = await sessions.create("ada");
    await store.close();
    await assert.rejects(sessions.load(token), { code: "STORE_UNAVAILABLE" });
    instrumentation.stop();
    await assert.rejects(sessions.load(token), { code: "STORE_UNAVAILABLE" });
    const duration = (await collect(reader)).get("latchkey.store.duration")?.points;
    const failed = pointValue(duration, {
      "latchkey.store.operation": "load",
      "error.type": "STORE_UNAVAILABLE",
    }) as Histogram;
    assert.equal(failed.count, 1);
    await provider.shutdown();
  });

  it("refuses something that is not a meter", () => {
    assert.throws(() => instrumentSessions({ meter: {} as never }), { code: "INVALID_OPTION" });
  });
});
