import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import type { ConnectionOptions } from "node:tls";
import { promisify } from "node:util";

/**
 * Throwaway TLS material for test servers, made with the `openssl` command line at test time: a CA and
 * a server certificate it signs, valid for one day. Nothing is checked in and nothing outlives the
 * temporary directory the caller removes.
 */

/** The names a test server's certificate is valid for, unless the caller picks others. */
export const DEFAULT_CERTIFICATE_NAMES: readonly string[] = ["127.0.0.1", "localhost"];

export interface TestCertificates {
  /** PEM of the CA: what a client must trust (`tls: { ca }`). */
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * Writes a CA and a server certificate for `names` (IP addresses and DNS names, the first one also the
 * CN) into `dir`. The certificate serves both ends (serverAuth and clientAuth): Cluster nodes also
 * present it to each other on the cluster bus.
 */
export async function createTestCertificates(
  dir: string,
  names: readonly string[] = DEFAULT_CERTIFICATE_NAMES,
): Promise<TestCertificates> {
  if (names.length === 0) throw new Error("createTestCertificates: give at least one name");
  const openssl = async (...args: string[]): Promise<void> => {
    await promisify(execFile)("openssl", args, { cwd: dir, timeout: 10_000 }).catch(
      (error: Error & { stderr?: string }) => {
        throw new Error(`openssl ${args[0]} failed: ${error.message}\n${error.stderr ?? ""}`);
      },
    );
  };
  const words = (text: string): string[] => text.split(" ");
  // EC keys: generated in milliseconds, where RSA would cost a noticeable share of a test's time.
  const key = words("-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes");
  await openssl(
    ...words("req -x509 -days 1 -keyout ca.key -out ca.crt"),
    ...key,
    "-subj",
    "/CN=latchkey test CA",
  );
  await openssl(...words("req -keyout server.key -out server.csr"), ...key, "-subj", `/CN=${names[0]}`);
  const altNames = names.map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(",");
  await writeFile(
    join(dir, "server.ext"),
    `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n`,
  );
  await openssl(
    ...words("x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1"),
    ...words("-extfile server.ext -out server.crt"),
  );
  return {
    caPem: await readFile(join(dir, "ca.crt"), "utf8"),
    caFile: join(dir, "ca.crt"),
    certFile: join(dir, "server.crt"),
    keyFile: join(dir, "server.key"),
  };
}

/**
 * The `redis-server` arguments for TLS only, as ElastiCache with in-transit encryption: no plain port,
 * clients need no certificate of their own, and Cluster nodes talk to each other over TLS too.
 */
export function tlsServerArgs(port: number, certificates: TestCertificates): string[] {
  return [
    "--port",
    "0",
    "--tls-port",
    String(port),
    "--tls-cert-file",
    certificates.certFile,
    "--tls-key-file",
    certificates.keyFile,
    "--tls-ca-cert-file",
    certificates.caFile,
    "--tls-auth-clients",
    "no",
    "--tls-cluster",
    "yes",
    "--tls-replication",
    "yes",
  ];
}

/**
 * TLS options for the harness's own probes (PING while starting, CLUSTER INFO): the chain is checked,
 * the name is not. A certificate may leave 127.0.0.1 out on purpose; tests check names through the
 * client under test.
 */
export function probeTLSOptions(certificates: TestCertificates): ConnectionOptions {
  return { ca: certificates.caPem, checkServerIdentity: () => undefined };
}
