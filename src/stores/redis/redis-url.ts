import { InvalidOptionError } from "../../core/errors.js";

/** One Redis server (or sentinel, or cluster seed) to connect to. */
export interface NodeAddress {
  host: string;
  port: number;
}

/** AUTH credentials: an ACL user with its password, or a password alone (the `default` user). */
export interface Credentials {
  username?: string;
  password?: string;
}

/** A `redis://` or `rediss://` URL taken apart. */
export interface ParsedURL {
  node: NodeAddress;
  credentials: Credentials;
  db: number;
  secure: boolean;
}

/** Takes a redis:// URL apart. Messages never repeat the URL: it may hold a password. */
export function parseRedisURL(option: string, value: unknown): ParsedURL {
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidOptionError(option, "must be a URL string such as redis://localhost:6379");
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidOptionError(
      option,
      "is not a valid URL: expected redis://[user:password@]host[:port][/db]",
    );
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new InvalidOptionError(option, `must start with redis:// or rediss://, not ${url.protocol}//`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host.length === 0) throw new InvalidOptionError(option, "has no host name");
  if (url.search || url.hash) {
    throw new InvalidOptionError(
      option,
      "must not have a ?query or #fragment: use the options object (tls, timeouts)",
    );
  }
  const dbText = url.pathname.replace(/^\//, "");
  if (dbText !== "" && !/^(0|[1-9][0-9]{0,4})$/.test(dbText)) {
    throw new InvalidOptionError(option, `has a database path that is not a whole number: /${dbText}`);
  }
  const credentials: Credentials = {};
  try {
    if (url.username) credentials.username = decodeURIComponent(url.username);
    if (url.password) credentials.password = decodeURIComponent(url.password);
  } catch {
    throw new InvalidOptionError(option, "has credentials with invalid percent-encoding");
  }
  if (credentials.username !== undefined && credentials.password === undefined) {
    throw new InvalidOptionError(option, "has a user name but no password: use redis://user:password@host");
  }
  return {
    node: { host, port: url.port ? Number(url.port) : 6379 },
    credentials,
    db: dbText === "" ? 0 : Number(dbText),
    secure: url.protocol === "rediss:",
  };
}
