/**
 * A real ACME server for tests: Pebble (Debian package `pebble`) with pebble-challtestsrv as its
 * DNS, which answers 127.0.0.1 for every name, so Pebble validates HTTP-01 against whatever
 * listens on 127.0.0.1:<httpPort>. Both run on free loopback ports with their own config; Pebble's
 * HTTPS certificate comes from a test CA the caller trusts (NODE_EXTRA_CA_CERTS).
 */
import type { Subprocess } from "bun";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { makeCa, makeLeaf } from "./certs.ts";
import { waitFor } from "./wait.ts";

export interface Pebble extends AsyncDisposable {
  /** ACME directory URL. */
  readonly directory: string;
  /** PEM of the CA that signed Pebble's own HTTPS certificate (trust it to talk to Pebble). */
  readonly apiCaFile: string;
  /** Pebble's issuing root, fetched from its management API (trust it to verify issued certificates). */
  rootPem(): Promise<string>;
  /** Pebble's stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Starts challtestsrv and Pebble; Pebble validates HTTP-01 challenges on 127.0.0.1:`httpPort`. */
export async function startPebble(dir: string, httpPort: number): Promise<Pebble> {
  const [acmePort, mgmtPort, dnsPort, dnsMgmtPort, tlsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const ca = await makeCa("pebble API test CA");
  const leaf = await makeLeaf(ca, ["localhost", "127.0.0.1"]);
  const apiCaFile = join(dir, "pebble-api-ca.pem");
  writeFileSync(apiCaFile, ca.cert);
  writeFileSync(join(dir, "pebble-cert.pem"), leaf.cert);
  writeFileSync(join(dir, "pebble-key.pem"), leaf.key);
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: join(dir, "pebble-cert.pem"),
      privateKey: join(dir, "pebble-key.pem"),
      httpPort,
      tlsPort,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
    },
  };
  writeFileSync(join(dir, "pebble-config.json"), JSON.stringify(config));

  let out = "";
  const procs: Subprocess[] = [];
  const spawn = (cmd: string[], env: Record<string, string> = {}) => {
    const p = Bun.spawn(cmd, { cwd: dir, env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    procs.push(p);
    const decoder = new TextDecoder();
    for (const stream of [p.stdout, p.stderr]) {
      void (async () => {
        for await (const chunk of stream) out += decoder.decode(chunk);
      })();
    }
    return p;
  };
  const stop = async () => {
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
  };
  try {
    // DNS only: every A query answers 127.0.0.1 and AAAA nothing, so validation goes to the IPv4 loopback.
    spawn([
      "pebble-challtestsrv",
      "-defaultIPv4",
      "127.0.0.1",
      "-defaultIPv6",
      "",
      "-dns01",
      `127.0.0.1:${dnsPort}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-management",
      `127.0.0.1:${dnsMgmtPort}`,
    ]);
    // Real validation (no PEBBLE_VA_ALWAYS_VALID); no random sleeps and no random nonce rejections, to stay fast and deterministic.
    spawn(["pebble", "-config", join(dir, "pebble-config.json"), "-dnsserver", `127.0.0.1:${dnsPort}`], {
      PEBBLE_VA_NOSLEEP: "1",
      PEBBLE_WFE_NONCEREJECT: "0",
      PEBBLE_AUTHZREUSE: "0",
    });
    const directory = `https://127.0.0.1:${acmePort}/dir`;
    await waitFor(async () => (await fetch(directory, { tls: { ca: ca.cert } } as RequestInit)).ok, "Pebble's directory", 10_000, 50);
    // challtestsrv starts its DNS and management servers together; an answer from the latter means both are up.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${dnsMgmtPort}/`)).status > 0, "pebble-challtestsrv", 10_000, 50);
    return {
      directory,
      apiCaFile,
      rootPem: async () => (await fetch(`https://127.0.0.1:${mgmtPort}/roots/0`, { tls: { ca: ca.cert } } as RequestInit)).text(),
      output: () => out,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await stop();
    throw new Error(`Pebble did not start: ${(err as Error).message}\n${out}`);
  }
}

/** `curl https://<host>:<port>/` trusting only `caFile`, with `host` resolved to 127.0.0.1. */
export async function curlTrusting(caFile: string, host: string, port: number): Promise<{ code: number; body: string; err: string }> {
  const curl = Bun.spawn(["curl", "-sS", "--cacert", caFile, "--resolve", `${host}:${port}:127.0.0.1`, `https://${host}:${port}/`], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [body, err, code] = await Promise.all([new Response(curl.stdout).text(), new Response(curl.stderr).text(), curl.exited]);
  return { code, body, err };
}
