/** @jsxImportSource hono/jsx */
/**
 * The dashboard's server-rendered pages (SPEC §18), in Hono's JSX: the frame, headings, forms and
 * empty tables with their labels. The figures arrive over SSE and client.js writes them in as
 * text. JSX escapes every value rendered here.
 */
import type { Child } from "hono/jsx";
import type { Page } from "./live.ts";

export interface Frame {
  page: Page;
  version: string;
  /** No api_key and no Basic user: say so on every page (SPEC §11.1). */
  open: boolean;
  /** Signed in through the session cookie: offer to sign out. */
  session: boolean;
  cluster: boolean;
}

const TITLES: Record<Page, string> = { overview: "Overview", routes: "Routes", apps: "Apps", certs: "Certificates", cluster: "Cluster" };
const PATHS: Record<Page, string> = { overview: "/", routes: "/ui/routes", apps: "/ui/apps", certs: "/ui/certs", cluster: "/ui/cluster" };

function Document(props: { title: string; page: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · soli-proxy</title>
        {/* No favicon request (it would go to the `_admin` app). */}
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/ui/assets/uPlot.min.css" />
        <link rel="stylesheet" href="/ui/assets/style.css" />
      </head>
      <body data-page={props.page}>{props.children}</body>
    </html>
  );
}

export function PageView(props: { frame: Frame }) {
  const { frame } = props;
  const pages = (["overview", "routes", "apps", "certs", "cluster"] as const).filter((p) => p !== "cluster" || frame.cluster);
  return (
    <Document title={TITLES[frame.page]} page={frame.page}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">soli-proxy</span>
        <nav aria-label="Pages">
          <ul>
            {pages.map((p) => (
              <li>
                <a href={PATHS[p]} aria-current={p === frame.page ? "page" : undefined}>
                  {TITLES[p]}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="live" id="live" role="status" aria-live="polite">
          connecting…
        </span>
        {frame.session ? (
          <button type="button" id="sign-out">
            Sign out
          </button>
        ) : null}
      </header>
      {frame.open ? (
        <p class="banner" role="note">
          This admin is open: no api_key and no ADMIN_USER/ADMIN_PASSWORD are set, so anyone on this machine can change the configuration.
        </p>
      ) : null}
      <main id="main" tabindex={-1}>
        <h1>{TITLES[frame.page]}</h1>
        {BODIES[frame.page]()}
      </main>
      <footer>soli-proxy {frame.version}</footer>
      <script src="/ui/assets/uPlot.iife.min.js" defer></script>
      <script src="/ui/assets/client.js" defer></script>
    </Document>
  );
}

const BODIES: Record<Page, () => Child> = {
  overview: () => (
    <>
      <dl class="tiles">
        <Tile id="rps" label="Requests/s" />
        <Tile id="p50" label="p50 latency" />
        <Tile id="p99" label="p99 latency" />
        <Tile id="in-flight" label="In flight" />
        <Tile id="upstream-errors" label="Upstream errors (15 min)" />
        <Tile id="uptime" label="Uptime" />
        <Tile id="version" label="Version" />
        <Tile id="config-version" label="Config version" />
      </dl>
      <p class="error" id="reload-error" role="alert" hidden></p>
      <Chart id="chart-rps" title="Requests per second, last 15 minutes" />
      <Chart id="chart-latency" title="Latency p50 and p99 (ms)" />
      <Chart id="chart-status" title="Responses by status class per second" />
    </>
  ),
  routes: () => (
    <>
      <DataTable
        id="routes-table"
        caption="Rules in proxy.conf order"
        columns={["#", "Line", "Kind", "Source", "Targets (weight, breaker)", "Balancing", "Auth", "Actions"]}
      />
      <section aria-labelledby="form-title">
        <h2 id="form-title">Add a route</h2>
        <form id="route-form" novalidate>
          <div class="field">
            <label for="matcher-type">Kind</label>
            <select id="matcher-type" name="type">
              {["domain", "domain_path", "prefix", "exact", "regex", "default"].map((t) => (
                <option value={t}>{t}</option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="matcher-value">Source (domain, path or pattern)</label>
            <input id="matcher-value" name="value" autocomplete="off" aria-describedby="matcher-value-error" />
            <p class="field-error" id="matcher-value-error" aria-live="polite"></p>
          </div>
          <div class="field" id="path-field" hidden>
            <label for="matcher-path">Path (for domain_path)</label>
            <input id="matcher-path" name="path" autocomplete="off" />
          </div>
          <div class="field">
            <label for="targets">Targets, one per line: URL and optional weight</label>
            <textarea id="targets" name="targets" rows={3} aria-describedby="targets-error"></textarea>
            <p class="field-error" id="targets-error" aria-live="polite"></p>
          </div>
          <div class="field">
            <label for="balancing">Load balancing</label>
            <select id="balancing" name="load_balancing">
              <option value="">as the weights imply</option>
              {["round-robin", "weighted", "failover"].map((t) => (
                <option value={t}>{t}</option>
              ))}
            </select>
          </div>
          <p class="error" id="form-error" role="alert"></p>
          <div class="actions">
            <button type="submit" id="route-save">
              Add route
            </button>
            <button type="button" id="route-cancel" hidden>
              Cancel edit
            </button>
          </div>
        </form>
      </section>
    </>
  ),
  apps: () => (
    <>
      <p id="apps-empty" hidden>
        No managed apps (sites/ has none, or app management is off).
      </p>
      <div id="apps"></div>
    </>
  ),
  certs: () => (
    <>
      <div class="actions">
        <button type="button" id="certs-reload">
          Reload certificates
        </button>
        <span id="certs-message" role="status" aria-live="polite"></span>
      </div>
      <DataTable id="certs-table" caption="Certificates in service" columns={["Name", "Names (SAN)", "Source", "Issuer", "Expires", "Days left"]} />
    </>
  ),
  cluster: () => (
    <>
      <dl class="tiles">
        <Tile id="cluster-name" label="Cluster" />
        <Tile id="cluster-redis" label="Redis" />
        <Tile id="cluster-self" label="This node" />
      </dl>
      <DataTable id="cluster-table" caption="Members" columns={["Node", "Version", "Config version", "Requests/s", "Last seen", "State"]} />
    </>
  ),
};

function Tile(props: { id: string; label: string }) {
  return (
    <div class="tile">
      <dt>{props.label}</dt>
      <dd id={props.id}>–</dd>
    </div>
  );
}

/** A table the page script fills: its rows are rendered in the browser from the admin API. */
function DataTable(props: { id: string; caption: string; columns: readonly string[] }) {
  return (
    <div class="table-wrap">
      <table id={props.id}>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col">{c}</th>
            ))}
          </tr>
        </thead>
        <tbody></tbody>
      </table>
    </div>
  );
}

function Chart(props: { id: string; title: string }) {
  return (
    <section class="chart-box" aria-labelledby={`${props.id}-title`}>
      <h2 id={`${props.id}-title`}>{props.title}</h2>
      <div class="chart" id={props.id} role="img" aria-label={props.title}></div>
    </section>
  );
}

export function LoginView(props: { version: string; basic: boolean }) {
  return (
    <Document title="Sign in" page="login">
      <main id="main" class="login">
        <h1>soli-proxy</h1>
        <form id="login-form" novalidate>
          <div class="field">
            <label for="api-key">Admin API key</label>
            <input id="api-key" name="api_key" type="password" autocomplete="current-password" required aria-describedby="login-error" />
          </div>
          <p class="error" id="login-error" role="alert"></p>
          <div class="actions">
            <button type="submit">Sign in</button>
          </div>
        </form>
        {props.basic ? (
          <p>
            <a href="/ui/basic">Sign in with user name and password instead</a>
          </p>
        ) : null}
      </main>
      <footer>soli-proxy {props.version}</footer>
      <script src="/ui/assets/client.js" defer></script>
    </Document>
  );
}
