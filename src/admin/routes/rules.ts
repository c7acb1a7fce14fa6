/**
 * Routes CRUD, PUT /config and POST /reload (SPEC §11.2, §11.5). Every write rewrites proxy.conf
 * through AdminPort.updateConf, so it is serialized with all other reloads, written atomically,
 * applied by the normal reload and undone when that reload is rejected.
 */
import type { AppliedConfig } from "../../config/applied.ts";
import type { ProxyConf, Rule } from "../../config/model.ts";
import { parseConfInput, parseRuleInput, redactRule } from "../../config/rule-json.ts";
import { serializeProxyConf } from "../../config/serialize.ts";
import { ApiError, ok, readJson } from "../envelope.ts";
import type { AdminPort } from "../port.ts";
import { versionOrThrow, type AdminApp } from "./common.ts";

export function ruleRoutes(api: AdminApp, port: AdminPort): void {
  api.get("/routes", (c) => ok(c, port.current().conf.rules.map(redactRule)));

  api.get("/routes/:index", (c) => {
    const rules = port.current().conf.rules;
    return ok(c, redactRule(rules[existingIndex(c.req.param("index"), rules)]!));
  });

  api.post("/routes", async (c) => {
    const body = await readJson(c);
    let index = -1;
    versionOrThrow(
      await port.updateConf((applied) => {
        const rule = validRule(body, null, "Invalid route");
        const rules = [...applied.conf.rules, rule];
        index = rules.length - 1;
        return render(applied, rules, [...applied.conf.rules.map((_, i) => i), null], "Invalid route");
      }),
    );
    return ok(c, { index, message: "Route added" }, 201);
  });

  api.put("/routes/:index", async (c) => {
    const body = await readJson(c);
    versionOrThrow(
      await port.updateConf((applied) => {
        const index = existingIndex(c.req.param("index"), applied.conf.rules);
        const rules = [...applied.conf.rules];
        rules[index] = validRule(body, applied.conf.rules[index]!, "Invalid route");
        return render(
          applied,
          rules,
          rules.map((_, i) => i),
          "Invalid route",
        );
      }),
    );
    return ok(c, { message: "Route updated" });
  });

  api.delete("/routes/:index", async (c) => {
    versionOrThrow(
      await port.updateConf((applied) => {
        const index = existingIndex(c.req.param("index"), applied.conf.rules);
        const origins = applied.conf.rules.map((_, i) => i).filter((i) => i !== index);
        return render(
          applied,
          origins.map((i) => applied.conf.rules[i]!),
          origins,
          "Invalid route",
        );
      }),
    );
    return c.body(null, 204);
  });

  api.put("/config", async (c) => {
    const body = await readJson(c);
    versionOrThrow(
      await port.updateConf((applied) => {
        const parsed = parseConfInput(body, applied.conf);
        if (!parsed.ok) throw new ApiError(400, `Invalid config: ${parsed.error}`);
        return render(applied, parsed.conf.rules, parsed.origins, "Invalid config", parsed.conf.headers);
      }),
    );
    return ok(c, { message: "Configuration updated" });
  });

  api.post("/reload", async (c) => {
    const version = versionOrThrow(await port.reload());
    return ok(c, { message: "Configuration reloaded", version });
  });
}

/** SPEC §11.2: a non-number is 400 `Invalid route index`, a missing one 404. */
function existingIndex(text: string, rules: readonly Rule[]): number {
  if (!/^\d{1,9}$/.test(text)) throw new ApiError(400, "Invalid route index");
  const index = Number(text);
  if (index >= rules.length) throw new ApiError(404, `Route index ${index} not found`);
  return index;
}

function validRule(body: unknown, replacing: Rule | null, prefix: string): Rule {
  const parsed = parseRuleInput(body, replacing);
  if (!parsed.ok) throw new ApiError(400, `${prefix}: ${parsed.error}`);
  return parsed.rule;
}

function render(applied: AppliedConfig, rules: Rule[], origins: (number | null)[], prefix: string, headers = applied.conf.headers): string {
  const next: ProxyConf = { headers: [...headers], rules };
  const result = serializeProxyConf(next, { text: applied.confText, conf: applied.conf, origins });
  if (!result.ok) throw new ApiError(400, `${prefix}: ${result.error}`);
  return result.text;
}
