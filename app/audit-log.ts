import type { FastifyBaseLogger } from "fastify";
import type { SessionEvent } from "latchkey";

/**
 * One audit line per session event (the manager's `onEvent`), naming sessions by public id only: no
 * token, no user id. A load that found nothing is logged at debug (any client can send a bad cookie,
 * and at info that would let it fill the log); store failures are the store monitor's to log, once per
 * outage, so they are left out here.
 */
export function auditLogger(log: FastifyBaseLogger): (event: SessionEvent) => void {
  return (event) => {
    switch (event.type) {
      case "load_missed":
        log.debug({ session: event.publicId, reason: event.reason }, "session not found");
        return;
      case "store_failed":
        return;
      case "destroyed":
        log.info(
          { audit: "session.destroyed", session: event.publicId, reason: event.reason, count: event.count },
          "session ended",
        );
        return;
      case "promoted":
      case "rotated":
      case "renewed":
        log.info(
          { audit: `session.${event.type}`, session: event.publicId, previous: event.previousPublicId },
          `session ${event.type}`,
        );
        return;
      default:
        log.info({ audit: `session.${event.type}`, session: event.publicId }, `session ${event.type}`);
    }
  };
}
