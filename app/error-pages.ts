import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isStoreUnavailable, LatchkeyError } from "latchkey";
import { BadFormError } from "./form.js";
import { type AppContext, pageContext, sendPage } from "./routes/context.js";
import { reasonOf } from "./store.js";
import type { StoreMonitor } from "./store-monitor.js";
import { errorPage } from "./views/errors.js";

/** What a full embedded store (STORE_FULL) shows: it is no outage, and waiting helps. */
const STORE_FULL_MESSAGE = "The server is at capacity right now. Please try again in a few minutes.";

/**
 * What a 503 page says, by what the store's error says happened (the texts of the Redis store's
 * errors); otherwise the page's default ("not answering"). Fixed texts: nothing of the error itself.
 */
const OUTAGE_MESSAGES: readonly [RegExp, string][] = [
  [
    /out of memory/,
    "The session store is full, so nothing new can be saved (logins and sign-ups fail). Please try again later.",
  ],
  [/loading its dataset/, "The session store is starting up. Please try again in a moment."],
  [
    /CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|failing over|failover/,
    "Part of the session store is failing over. Please try again in a moment.",
  ],
];

/**
 * A full embedded store is logged once when it starts refusing, not per refused request: again only
 * after this long without a refusal (the next episode).
 */
const STORE_FULL_QUIET_MS = 60_000;

function outageMessage(reason: string): string | undefined {
  return OUTAGE_MESSAGES.find(([pattern]) => pattern.test(reason))?.[1];
}

/**
 * Every error becomes an HTML page with a fitting status and a generic message: no stack trace, error
 * message or input ever reaches the client. Client errors are logged briefly, server errors in full.
 */
export function errorPages(app: FastifyInstance, context: AppContext, monitor: StoreMonitor): void {
  const anonymous = pageContext(context, null);
  /** When the last STORE_FULL refusal was (0: none yet); see STORE_FULL_QUIET_MS. */
  let lastStoreFull = 0;

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const status = statusOf(error);
    if (isStoreFull(error)) {
      // The embedded store's bound: counters free up as their windows end, accounts never. Logged once
      // per episode; the requests it refuses meanwhile only at debug.
      const now = Date.now();
      if (now - lastStoreFull > STORE_FULL_QUIET_MS) {
        request.log.warn({ reason: reasonOf(error) }, "session store full");
      } else {
        request.log.debug({ reason: reasonOf(error) }, "session store full (still)");
      }
      lastStoreFull = now;
      reply.header("retry-after", "60");
    } else if (status === 503) {
      // The outage itself is logged once, by the monitor; this request only at debug.
      request.log.debug({ reason: reasonOf(error) }, "session store unavailable");
      monitor.reportFailure(error);
      reply.header("retry-after", "5");
    } else if (status >= 500) {
      request.log.error({ err: error }, "request failed");
    } else {
      request.log.info({ status, code: error.code }, "request refused");
    }
    // Our own form errors say exactly what is wrong; other messages stay in the log.
    const message =
      error instanceof BadFormError
        ? error.message
        : isStoreFull(error)
          ? STORE_FULL_MESSAGE
          : status === 503
            ? outageMessage(reasonOf(error))
            : undefined;
    return sendPage(reply, status, errorPage(anonymous, status, message));
  });

  app.setNotFoundHandler(async (request, reply) => {
    // Show the right header (logged in or not) when it is cheap and safe to find out.
    const session = await request.session.load().catch(() => null);
    const page = pageContext(context, session ? (session.data.username ?? session.userId) : null);
    return sendPage(reply, 404, errorPage(page, 404));
  });
}

/** The embedded store refused to grow (STORE_FULL): the request could not be served, nor counted. */
function isStoreFull(error: unknown): boolean {
  return error instanceof LatchkeyError && error.code === "STORE_FULL";
}

function statusOf(error: FastifyError): number {
  if (isStoreUnavailable(error) || isStoreFull(error)) return 503;
  const status = error.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) return status;
  if (status === 503) return 503;
  return 500;
}
