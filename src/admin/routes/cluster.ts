/** GET /cluster (SPEC §11.2, §17.1): members as this node reads them from Redis. */
import { ok } from "../envelope.ts";
import type { AdminPort } from "../port.ts";
import { need, type AdminApp } from "./common.ts";

export function clusterRoutes(api: AdminApp, port: AdminPort): void {
  api.get("/cluster", async (c) => ok(c, await need(port.cluster, "cluster mode is not available in this build")()));
}
