// soli-proxy dashboard client (SPEC §18). Plain browser JavaScript, served as is from the
// executable. Every value from the proxy is written with textContent (el() below), never as HTML,
// so a route, header or log line containing markup is shown, not run.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);

  /** An element with attributes and children; strings become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = String(v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  /** Re-renders `container` with `build()` and gives focus back to the element with the same data-key. */
  function replaceKeepingFocus(container, nodes) {
    const active = document.activeElement;
    const key = active && container.contains(active) ? active.dataset.key : undefined;
    container.replaceChildren(...nodes);
    if (key) {
      const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again) again.focus();
    }
  }

  /** An admin API call: writes carry X-Requested-With (SPEC §11.1); the JSON envelope is unpacked. */
  async function call(method, path, body) {
    const headers = { "x-requested-with": "soli-dashboard" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
    let json = null;
    if ((res.headers.get("content-type") || "").includes("json")) json = await res.json().catch(() => null);
    if (res.status === 401 || res.status === 303) location.assign("/ui/login");
    return { status: res.status, ok: res.ok, body: json };
  }

  const live = $("live");
  let openStreams = 0;
  /** An EventSource (it reconnects by itself) whose state the header shows. */
  function stream(url, handlers) {
    const source = new EventSource(url);
    source.addEventListener("open", () => {
      openStreams++;
      if (live) live.textContent = "live";
    });
    source.addEventListener("error", () => {
      openStreams = Math.max(0, openStreams - 1);
      if (live) live.textContent = "reconnecting…";
    });
    for (const [event, fn] of Object.entries(handlers)) source.addEventListener(event, (e) => fn(JSON.parse(e.data)));
    window.addEventListener("pagehide", () => source.close());
    return source;
  }

  const fmt = {
    num: (n, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? "–" : Number(n).toLocaleString("en", { maximumFractionDigits: digits })),
    ms: (n) => (n === null || n === undefined ? "–" : `${Number(n).toFixed(n < 10 ? 2 : 0)} ms`),
    bytes: (n) => {
      if (n === null || n === undefined) return "–";
      const units = ["B", "KiB", "MiB", "GiB"];
      let i = 0;
      while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
      return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
    },
    duration: (secs) => {
      const d = Math.floor(secs / 86400),
        h = Math.floor((secs % 86400) / 3600),
        m = Math.floor((secs % 3600) / 60),
        s = secs % 60;
      return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
    },
  };

  const signOut = $("sign-out");
  if (signOut)
    signOut.addEventListener("click", async () => {
      await call("POST", "/ui/logout");
      location.assign("/ui/login");
    });

  // ---------------------------------------------------------------- sign-in
  function login() {
    const form = $("login-form");
    const error = $("login-error");
    $("api-key").focus();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.textContent = "";
      const res = await fetch("/ui/login", {
        method: "POST",
        headers: { "content-type": "application/json", "x-requested-with": "soli-dashboard" },
        body: JSON.stringify({ api_key: $("api-key").value }),
      });
      if (res.ok) return location.assign("/");
      $("api-key").setAttribute("aria-invalid", "true");
      error.textContent =
        res.status === 401 ? "That API key is not right." : res.status === 429 ? "Too many attempts; wait a moment." : `Sign-in failed (${res.status}).`;
    });
  }

  // ---------------------------------------------------------------- overview
  function overview() {
    const MAX = 900;
    const t = [],
      rps = [],
      p50 = [],
      p99 = [],
      cls = [[], [], [], [], []];
    let upstreamErrors = [];
    const cssVar = (n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim();
    const mk = (id, series) => {
      const box = $(id);
      const plot = new uPlot(
        {
          width: Math.max(200, box.clientWidth),
          height: 180,
          // The x axis always spans the whole 15 minutes, so a young series does not fill it.
          scales: {
            x: {
              time: true,
              range: (_u, _min, max) => {
                const end = max ?? Date.now() / 1000;
                return [end - MAX, end];
              },
            },
          },
          series: [{}, ...series],
          axes: [{}, { size: 50 }],
          legend: { live: false },
          cursor: { show: false },
        },
        [[], ...series.map(() => [])],
        box,
      );
      new ResizeObserver(() => plot.setSize({ width: Math.max(200, box.clientWidth), height: 180 })).observe(box);
      return plot;
    };
    const charts = {
      rps: mk("chart-rps", [{ label: "req/s", stroke: cssVar("--accent"), width: 2, fill: "rgba(27,95,180,0.12)" }]),
      latency: mk("chart-latency", [
        // A second without requests has no latency: a gap, with lone seconds still drawn as dots.
        { label: "p50 ms", stroke: "#1d7a36", width: 2, points: { show: true, size: 4 } },
        { label: "p99 ms", stroke: "#b3261e", width: 2, points: { show: true, size: 4 } },
      ]),
      status: mk("chart-status", [
        { label: "1xx", stroke: "#888", width: 1 },
        { label: "2xx", stroke: "#1d7a36", width: 2 },
        { label: "3xx", stroke: "#1b5fb4", width: 1 },
        { label: "4xx", stroke: "#9a5b00", width: 2 },
        { label: "5xx", stroke: "#b3261e", width: 2 },
      ]),
    };
    const add = (p) => {
      t.push(p.t), rps.push(p.rps), p50.push(p.p50_ms), p99.push(p.p99_ms), upstreamErrors.push(p.upstream_errors);
      p.status.forEach((n, i) => cls[i].push(n));
      if (t.length > MAX) {
        for (const a of [t, rps, p50, p99, upstreamErrors, ...cls]) a.shift();
      }
    };
    const draw = (latest) => {
      charts.rps.setData([t, rps]);
      charts.latency.setData([t, p50, p99]);
      charts.status.setData([t, ...cls]);
      if (latest) {
        $("rps").textContent = fmt.num(latest.rps);
        $("p50").textContent = fmt.ms(latest.p50_ms);
        $("p99").textContent = fmt.ms(latest.p99_ms);
        $("in-flight").textContent = fmt.num(latest.in_flight);
      }
      $("upstream-errors").textContent = fmt.num(upstreamErrors.reduce((a, b) => a + b, 0));
      // What the chart holds, readable without pixels (the browser test checks it).
      $("chart-rps").dataset.requests = String(rps.reduce((a, b) => a + b, 0));
    };
    stream("/api/v1/events/metrics", {
      series: (points) => {
        for (const a of [t, rps, p50, p99, upstreamErrors, ...cls]) a.length = 0;
        points.forEach(add);
        draw(points[points.length - 1]);
      },
      point: (p) => {
        add(p);
        draw(p);
      },
    });
    stream("/ui/events/overview", {
      page: ({ status }) => {
        if (!status) return;
        $("uptime").textContent = fmt.duration(status.uptime_secs);
        $("version").textContent = status.version;
        $("config-version").textContent = `v${status.config_version}`;
        const err = $("reload-error");
        err.hidden = !status.last_reload_error;
        err.textContent = status.last_reload_error ? `Last reload rejected (still serving v${status.config_version}): ${status.last_reload_error}` : "";
      },
    });
  }

  // ---------------------------------------------------------------- routes
  function matcherSource(m) {
    if (m.type === "default") return "default";
    if (m.type === "domain_path") return `${m.domain}${m.path}`;
    return m.value;
  }

  function routes() {
    const body = $("routes-table").tBodies[0];
    const form = $("route-form");
    const type = $("matcher-type"),
      value = $("matcher-value"),
      path = $("matcher-path"),
      targets = $("targets"),
      balancing = $("balancing");
    const save = $("route-save"),
      cancel = $("route-cancel");
    let rules = [];
    let lines = null; // proxy.conf line of each rule
    let confFile = "proxy.conf";
    let lastLine = 0;
    let editing = null; // { index, rule }

    const showPath = () => ($("path-field").hidden = type.value !== "domain_path");
    type.addEventListener("change", showPath);

    const clearErrors = () => {
      for (const id of ["matcher-value", "targets"]) {
        $(`${id}-error`).textContent = "";
        $(id).removeAttribute("aria-invalid");
      }
      $("form-error").textContent = "";
    };
    const fieldError = (message) => {
      const id = /target|url|upstream|weight|balanc/i.test(message) ? "targets" : "matcher-value";
      $(`${id}-error`).textContent = message;
      $(id).setAttribute("aria-invalid", "true");
      $(id).focus();
    };
    const resetForm = () => {
      editing = null;
      form.reset();
      clearErrors();
      showPath();
      $("form-title").textContent = "Add a route";
      save.textContent = "Add route";
      cancel.hidden = true;
    };
    cancel.addEventListener("click", resetForm);

    const edit = (index) => {
      const rule = rules[index];
      editing = { index, rule };
      clearErrors();
      type.value = rule.matcher.type;
      value.value = rule.matcher.type === "domain_path" ? rule.matcher.domain : rule.matcher.value || "";
      path.value = rule.matcher.type === "domain_path" ? rule.matcher.path : "";
      targets.value = rule.targets.map((tg) => `${tg.url} ${tg.weight}`).join("\n");
      balancing.value = rule.load_balancing;
      showPath();
      $("form-title").textContent = `Edit route #${index}`;
      save.textContent = "Save changes";
      cancel.hidden = false;
      value.focus();
    };

    const remove = async (index) => {
      const rule = rules[index];
      if (!confirm(`Delete route #${index} (${matcherSource(rule.matcher)})?`)) return;
      const res = await call("DELETE", `/api/v1/routes/${index}`);
      if (!res.ok) $("form-error").textContent = describe(res);
    };

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors();
      const matcher =
        type.value === "default"
          ? { type: "default" }
          : type.value === "domain_path"
            ? { type: "domain_path", domain: value.value.trim(), path: path.value.trim() }
            : { type: type.value, value: value.value.trim() };
      const list = targets.value
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => {
          const [url, weight] = l.split(/\s+/);
          return weight === undefined ? { url } : { url, weight: Number(weight) };
        });
      const rule = { ...(editing ? editing.rule : {}), matcher, targets: list };
      if (balancing.value) rule.load_balancing = balancing.value;
      else delete rule.load_balancing;
      save.disabled = true;
      const res = editing ? await call("PUT", `/api/v1/routes/${editing.index}`, rule) : await call("POST", "/api/v1/routes", rule);
      save.disabled = false;
      if (res.ok) return resetForm();
      // A refused rule is named by its place in proxy.conf: its own line when editing, the line
      // it would take when adding (the reload's issues carry their own positions).
      const where = editing && lines ? `${confFile}:${lines[editing.index]}: ` : lines ? `${confFile}:${lastLine + 1} (new rule): ` : "";
      const text = describe(res);
      fieldError(/^[^\s:]+:\d+/.test(text) ? text : `${where}${text}`);
    });

    const breakerOf = (breakers, url) => {
      try {
        return (breakers || {})[new URL(url).origin];
      } catch {
        return undefined;
      }
    };
    const authOf = (rule) => {
      if (rule.options && rule.options.auth) return String(rule.options.auth);
      if (rule.auth && rule.auth.length) return `basic (${rule.auth.map((u) => u.username).join(", ")})`;
      return "none";
    };

    stream("/ui/events/routes", {
      page: ({ routes: list, breakers, lines: ruleLines, file, line_count }) => {
        rules = list || [];
        lines = ruleLines || null;
        confFile = file || "proxy.conf";
        lastLine = line_count || 0;
        const rows = rules.map((rule, i) =>
          el(
            "tr",
            {},
            el("td", { text: i }),
            el("td", { text: lines ? (lines[i] ?? "–") : "–" }),
            el("td", { text: rule.matcher.type }),
            el("td", {}, el("code", { text: matcherSource(rule.matcher) })),
            el(
              "td",
              {},
              el(
                "ul",
                {},
                rule.targets.map((tg) => {
                  const b = breakerOf(breakers, tg.url);
                  return el(
                    "li",
                    {},
                    el("code", { text: tg.url }),
                    ` ${tg.weight}`,
                    b ? el("span", { class: `state-${b.state}`, text: ` ${b.state.replace("_", "-")}` }) : "",
                  );
                }),
              ),
            ),
            el("td", { text: rule.load_balancing }),
            el("td", { text: authOf(rule) }),
            el(
              "td",
              {},
              el("div", { class: "actions" }, [
                el("button", { type: "button", dataset: { key: `edit-${i}` }, "aria-label": `Edit route ${i}`, onclick: () => edit(i) }, "Edit"),
                el(
                  "button",
                  { type: "button", class: "danger", dataset: { key: `delete-${i}` }, "aria-label": `Delete route ${i}`, onclick: () => remove(i) },
                  "Delete",
                ),
              ]),
            ),
          ),
        );
        if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 8, text: "No rules." })));
        replaceKeepingFocus(body, rows);
      },
    });
  }

  /** An API error with the proxy.conf position of each issue the reload reported (SPEC §11.2 422). */
  function describe(res) {
    const b = res.body || {};
    if (Array.isArray(b.issues) && b.issues.length) {
      return b.issues.map((i) => `${i.file.split("/").pop()}${i.line ? `:${i.line}${i.column ? `:${i.column}` : ""}` : ""}: ${i.message}`).join("\n");
    }
    return b.error || `HTTP ${res.status}`;
  }

  // ---------------------------------------------------------------- apps
  function apps() {
    const container = $("apps");
    const activity = new Map(); // app → [{ text, kind }]
    const busy = new Set();
    let data = { apps: [], metrics: {}, system: {}, logs: {} };

    /**
     * `tag` marks a line that the next line of the same tag replaces (health attempts), so a slow
     * boot shows one live line instead of pushing everything else out.
     */
    const note = (app, text, kind, tag) => {
      const list = activity.get(app) || [];
      const entry = { text: `${new Date().toLocaleTimeString()} ${text}`, kind, tag };
      if (tag && list.length > 0 && list[list.length - 1].tag === tag) list[list.length - 1] = entry;
      else list.push(entry);
      while (list.length > 20) list.shift();
      activity.set(app, list);
      render();
    };

    const phaseText = (d) => {
      switch (d.phase) {
        case "starting":
          return `starting ${d.slot} on port ${d.port}`;
        case "health":
          return `health check ${d.attempt}: ${d.elapsed_secs}s of ${d.timeout_secs}s${d.last_error ? ` (last error: ${d.last_error})` : ""}`;
        case "switched":
          return `switched to ${d.slot}`;
        case "draining":
          return `draining the old slot for ${d.seconds}s`;
        case "done":
          return `done on ${d.slot} in ${d.elapsed_secs}s`;
        case "failed":
          return `failed: ${d.error}`;
        default:
          return `phase: ${d.phase}`;
      }
    };

    /** One line per deploy phase (SPEC §14.7 Progress); health attempts update one line. */
    const notePhase = (app, d) => {
      const kind = d.phase === "failed" ? "error" : d.phase === "done" ? "ok" : undefined;
      note(app, phaseText(d), kind, d.phase === "health" ? "health" : undefined);
    };

    const act = async (app, verb) => {
      if (verb === "stop" && !confirm(`Stop ${app}?`)) return;
      busy.add(app);
      note(app, `${verb} requested`);
      try {
        const res = await fetch(`/api/v1/apps/${encodeURIComponent(app)}/${verb}`, {
          method: "POST",
          headers: { "x-requested-with": "soli-dashboard", accept: "text/event-stream" },
        });
        if ((res.headers.get("content-type") || "").includes("text/event-stream")) await readSse(res, app, verb);
        else {
          const body = await res.json().catch(() => ({}));
          if (res.ok) note(app, `${verb}: ${body.data.message}${body.data.slot ? ` (now ${body.data.slot})` : ""}`, "ok");
          else note(app, `${verb} failed: ${body.error || res.status}`, "error");
        }
      } catch (err) {
        note(app, `${verb} failed: ${err.message}`, "error");
      } finally {
        busy.delete(app);
        render();
      }
    };

    /** The deploy's own SSE answer (SPEC §11.2): progress events, then done or error. */
    async function readSse(res, app, verb) {
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = "message",
            payload = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) payload += line.slice(5).trim();
          }
          // Phases are shown from /events/apps, which also carries deploys started elsewhere (CLI, TUI).
          if (!payload || event === "progress") continue;
          const d = JSON.parse(payload);
          if (event === "done") note(app, `${verb}: ${d.message || "done"}${d.slot ? ` (now ${d.slot})` : ""}`, "ok");
          else if (event === "error") note(app, `${verb} failed: ${d.error}`, "error");
        }
      }
    }

    stream("/api/v1/events/apps", {
      message: (e) => {
        if (e.type === "Progress") notePhase(e.app_name, e);
        else if (e.type === "StatusChanged") note(e.app_name, `${e.slot}: ${e.status}`);
        else if (e.type === "Deployed") note(e.app_name, `deployed on ${e.slot}`, "ok");
        else if (e.type === "Stopped") note(e.app_name, `${e.slot} stopped`);
        else if (e.type === "Restarted") note(e.app_name, "restarted", "ok");
      },
    });

    function render() {
      const list = data.apps || [];
      $("apps-empty").hidden = list.length > 0;
      replaceKeepingFocus(
        container,
        list.map((app) => {
          const name = app.config.name;
          const traffic = (data.metrics || {})[name];
          const sys = (data.system || {})[name] || {};
          const logs = (data.logs || {})[name] || { blue: [], green: [] };
          const id = `app-${name.replace(/[^a-zA-Z0-9_-]/g, "_")}`;
          return el(
            "section",
            { class: "app", "aria-labelledby": id, dataset: { app: name } },
            el("h2", { id, text: name }),
            el("p", { class: "meta" }, `domain ${app.config.domain || "–"} · serving `, el("strong", { class: "current-slot", text: app.current_slot })),
            el(
              "div",
              { class: "table-wrap" },
              el(
                "table",
                {},
                el("caption", { text: "Slots" }),
                el(
                  "thead",
                  {},
                  el(
                    "tr",
                    {},
                    ["Slot", "Port", "PID", "Status", "CPU", "RSS"].map((h) => el("th", { scope: "col", text: h })),
                  ),
                ),
                el(
                  "tbody",
                  {},
                  ["blue", "green"].map((slot) => {
                    const s = app[slot] || {};
                    const m = sys[slot] || {};
                    return el(
                      "tr",
                      { class: slot === app.current_slot ? "current" : "" },
                      el("td", { text: slot === app.current_slot ? `${slot} (current)` : slot }),
                      el("td", { text: s.port ?? "–" }),
                      el("td", { text: s.pid ?? "–" }),
                      el("td", { class: "slot-status", text: s.status || "–" }),
                      el("td", { text: m.cpu_percent === null || m.cpu_percent === undefined ? "–" : `${m.cpu_percent.toFixed(1)} %` }),
                      el("td", { text: fmt.bytes(m.memory_rss_bytes) }),
                    );
                  }),
                ),
              ),
            ),
            el(
              "p",
              { class: "meta" },
              traffic
                ? `${fmt.num(traffic.requests)} requests · ${fmt.num(traffic.errors)} errors · ${fmt.num(traffic.avg_response_time_ms, 1)} ms average`
                : "No traffic yet.",
            ),
            el(
              "div",
              { class: "actions" },
              ["deploy", "restart", "rollback", "stop"].map((verb) =>
                el(
                  "button",
                  {
                    type: "button",
                    class: verb === "stop" ? "danger" : verb === "deploy" ? "primary" : "",
                    disabled: busy.has(name),
                    dataset: { key: `${verb}-${name}` },
                    onclick: () => act(name, verb),
                  },
                  `${verb[0].toUpperCase()}${verb.slice(1)}`,
                  el("span", { class: "skip", text: ` ${name}` }),
                ),
              ),
            ),
            el(
              "ul",
              { class: "progress", "aria-live": "polite", "aria-label": `${name} activity` },
              (activity.get(name) || []).map((a) => el("li", { class: a.kind === "error" ? "error" : a.kind === "ok" ? "state-closed" : "", text: a.text })),
            ),
            el(
              "div",
              { class: "logs" },
              ["blue", "green"].map((slot) =>
                el(
                  "div",
                  {},
                  el("h3", { text: `${slot} log` }),
                  el(
                    "pre",
                    { tabindex: 0, class: `log log-${slot}`, dataset: { key: `log-${name}-${slot}` }, "aria-label": `${name} ${slot} log` },
                    logs[slot].join("\n") || "(empty)",
                  ),
                ),
              ),
            ),
          );
        }),
      );
      for (const pre of container.querySelectorAll("pre.log")) pre.scrollTop = pre.scrollHeight;
    }

    stream("/ui/events/apps", {
      page: (d) => {
        data = d;
        render();
      },
    });
  }

  // ---------------------------------------------------------------- certificates
  function certs() {
    const body = $("certs-table").tBodies[0];
    const msg = $("certs-message");
    $("certs-reload").addEventListener("click", async () => {
      msg.textContent = "Reloading…";
      const res = await call("POST", "/api/v1/certs/reload");
      msg.textContent = res.ok ? `${res.body.data.message}: ${res.body.data.count}` : describe(res);
    });
    stream("/ui/events/certs", {
      page: ({ certs: list }) => {
        if (list === null) {
          replaceKeepingFocus(body, [el("tr", {}, el("td", { colspan: 6, text: "Certificate management is not available." }))]);
          return;
        }
        replaceKeepingFocus(
          body,
          list.map((c) =>
            el(
              "tr",
              {},
              el("td", { text: c.name }),
              el("td", { text: c.sans.join(", ") }),
              el("td", { text: c.source }),
              el("td", { text: c.issuer || "–" }),
              el("td", { text: c.not_after.slice(0, 10) }),
              el("td", { class: c.warning ? "warn" : "" }, c.warning ? `⚠ ${c.days_left} (renew soon)` : String(c.days_left)),
            ),
          ),
        );
      },
    });
  }

  // ---------------------------------------------------------------- cluster
  function cluster() {
    const body = $("cluster-table").tBodies[0];
    stream("/ui/events/cluster", {
      page: ({ cluster: c }) => {
        if (!c) return;
        $("cluster-name").textContent = c.name ?? "–";
        $("cluster-redis").textContent = c.redis ?? "–";
        $("cluster-self").textContent = c.self ?? "–";
        replaceKeepingFocus(
          body,
          (c.members || []).map((m) =>
            el(
              "tr",
              {},
              el("td", { text: m.node_id }),
              el("td", { text: m.version }),
              el("td", { text: m.config_version }),
              el("td", { text: fmt.num(m.requests_per_second, 1) }),
              el("td", { text: m.last_seen }),
              el("td", { class: m.gone ? "warn" : "state-closed", text: m.gone ? "gone" : "up" }),
            ),
          ),
        );
      },
    });
  }

  const pages = { login, overview, routes, apps, certs, cluster };
  const page = pages[document.body.dataset.page];
  if (page) page();
})();
