/**
 * Endpoints served by optional subsystems (SPEC §11.2): metrics, circuit breakers, certificates.
 * Each answers 501 with what is missing until its provider is wired into the AdminPort.
 */
import { ApiError, ok } from "../envelope.ts";
import type { AdminPort } from "../port.ts";
import { need, type AdminApp } from "./common.ts";

export function subsystemRoutes(api: AdminApp, port: AdminPort): void {
  api.get("/metrics", async (c) => {
    const text = await need(port.metricsText, "metrics are not available in this build")();
    return c.body(text, 200, { "content-type": "text/plain; version=0.0.4" });
  });

  api.get("/circuit-breaker", (c) => ok(c, need(port.breakers, "circuit breakers are not available in this build").states()));

  api.post("/circuit-breaker/reset", (c) => {
    need(port.breakers, "circuit breakers are not available in this build").reset();
    return ok(c, { message: "Circuit breaker states reset" });
  });

  // SPEC §15.5: answered by the old primary once the new one is ready (or with why it is not).
  api.post("/upgrade", async (c) => {
    c.env?.server?.timeout(c.req.raw, 0); // up to 30 s for the new primary, plus the adoption of the apps
    const upgrade = need(port.upgrade, "hitless upgrade is not available in this process");
    try {
      const next = await upgrade();
      return ok(c, { message: `upgraded to soli-proxy ${next.version} (PID ${next.pid})`, pid: next.pid, version: next.version });
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(500, `upgrade failed, this proxy keeps serving: ${(err as Error).message}`);
    }
  });

  api.get("/certs", (c) => ok(c, need(port.certificates, "certificate management is not available in this build").list()));

  api.post("/certs/reload", async (c) => {
    const { count, refused } = await need(port.certificates, "certificate management is not available in this build").reload();
    if (refused.length > 0) {
      throw new ApiError(
        422,
        `Certificates reloaded, but ${refused.length} pair${refused.length === 1 ? " was" : "s were"} refused: ${refused.map((r) => `${r.file}: ${r.error}`).join("; ")}`,
        { count, refused },
      );
    }
    return ok(c, { message: "Certificates reloaded", count });
  });
}
