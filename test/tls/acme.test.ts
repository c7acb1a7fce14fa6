import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createLogger } from "../../src/lib/log.ts";
import { AcmeManager } from "../../src/tls/acme.ts";
import { ChallengeTokens } from "../../src/tls/challenge.ts";
import { CertificateIndex, scanStore } from "../../src/tls/store.ts";
import { makeCa, makeLeaf } from "../support/certs.ts";
import { readLogLines, tempProject } from "../support/project.ts";
import { writePair } from "../support/tls.ts";
import { waitFor } from "../support/wait.ts";

const DAY = 86_400_000;

/** A directory that answers 503, counting how often it is asked: each ask is one issuance attempt. */
function countingCa(): { url: string; asked: () => number } & Disposable {
  let asked = 0;
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => (asked++, new Response("busy", { status: 503 })) });
  return { url: `http://127.0.0.1:${server.port}/dir`, asked: () => asked, [Symbol.dispose]: () => server.stop(true) };
}

async function manager(opts: { renewBeforeMs?: number; retryAfterMs?: number }) {
  const project = tempProject();
  const dir = join(project.dir, "certs");
  // makeLeaf certificates are valid for 20 more days
  writePair(dir, "shop.example.com", await makeLeaf(await makeCa(), ["shop.example.com"]));
  const index = new CertificateIndex(scanStore(dir).certificates);
  const ca = countingCa();
  const logFile = join(project.dir, "acme.log");
  const log = createLogger({ level: "debug", format: "json", output: `file:${logFile}` });
  const acme = new AcmeManager({
    cacheDir: dir,
    directoryUrl: ca.url,
    email: "ops@example.com",
    challenges: new ChallengeTokens(),
    log: () => log,
    index: () => index,
    install: async () => undefined,
    renewBeforeMs: opts.renewBeforeMs,
    retryAfterMs: opts.retryAfterMs,
  });
  return {
    acme,
    ca,
    logs: () => readLogLines(logFile),
    [Symbol.dispose]: () => {
      acme.stop();
      ca[Symbol.dispose]();
      project.remove();
    },
  };
}

describe("ACME scheduling (SPEC §12.6)", () => {
  test("a certificate valid for more than the renewal window is left alone; within it, it is renewed", async () => {
    using far = await manager({ renewBeforeMs: 10 * DAY });
    far.acme.setDomains(["shop.example.com"]);
    await far.acme.check();
    using near = await manager({ renewBeforeMs: 30 * DAY });
    near.acme.setDomains(["shop.example.com"]);
    await near.acme.check();
    expect([far.ca.asked(), near.ca.asked()]).toEqual([0, 1]);
  });

  test("a failed domain is not tried again before the back-off has passed", async () => {
    using m = await manager({ retryAfterMs: 400 });
    m.acme.setDomains(["shop.example.com", "new.example.com"]);
    const firstCheck = Date.now();
    await m.acme.check();
    await m.acme.check();
    const afterTwoChecks = m.ca.asked();
    // The back-off is a wall clock: checks keep coming (as the scheduler's would) until one asks
    // again, which must not be before 400 ms after the failure.
    await waitFor(
      async () => {
        await m.acme.check();
        return m.ca.asked() > afterTwoChecks;
      },
      "a check after the back-off to try again",
      3000,
      20,
    );
    expect(Date.now() - firstCheck).toBeGreaterThanOrEqual(400);
    const failures = m
      .logs()
      .filter((l) => l.level === "error")
      .map((l) => l.domain);
    expect([afterTwoChecks, m.ca.asked(), failures]).toEqual([1, 2, ["shop.example.com", "new.example.com", "shop.example.com", "new.example.com"]]);
  });

  test("a running manager orders a domain added later at once", async () => {
    using m = await manager({ renewBeforeMs: 10 * DAY });
    m.acme.setDomains(["shop.example.com"]);
    m.acme.start();
    await m.acme.check();
    const before = m.ca.asked();
    m.acme.setDomains(["shop.example.com", "added.example.com"]);
    await waitFor(() => m.logs().some((l) => l.domain === "added.example.com" && l.level === "error"), "the new domain's attempt", 3000);
    expect([before, m.ca.asked()]).toEqual([0, 1]);
  });
});
