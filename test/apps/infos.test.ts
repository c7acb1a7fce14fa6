import { describe, expect, test } from "bun:test";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { devAlias, resolveAppConfig } from "../../src/apps/config.ts";
import { detectStartScript } from "../../src/apps/detect.ts";
import { discoverApps } from "../../src/apps/discover.ts";
import { parseDockerOptions } from "../../src/apps/docker-options.ts";
import { parseAppInfos } from "../../src/apps/infos.ts";
import { check } from "../../src/cli/check.ts";
import { formatIssue } from "../../src/config/issues.ts";
import { tempProject } from "../support/project.ts";

const DIR = "/srv/sites/shop.example.com";
const parse = (text: string, dir = DIR) => parseAppInfos(text, join(dir, "app.infos"));
const errors = (text: string, dir = DIR) => parse(text, dir).issues.map((i) => formatIssue(i).replace(dir, "<app>"));

describe("app.infos (SPEC §14.2)", () => {
  test("a missing or blank file means every default", () => {
    expect(parse("\n").infos).toEqual({
      stop_script: undefined,
      health_timeout: 30,
      graceful_timeout: 30,
      drain_delay: 5,
      port_range_start: 20000,
      port_range_end: 30000,
      workers: 1,
      docker_network: "soli-apps",
      env: {},
    });
  });

  test("env is an inline table of strings that cannot set PORT or WORKERS; env_file stays inside the app directory and is checked without showing a value", () => {
    using project = tempProject({ "app/.env": '# comment\nexport API_KEY=\'s3cr3t\'\nDATABASE_URL="postgres://x"\nbroken line\nTOKEN="unclosed\nPORT=1\n' });
    const dir = join(project.dir, "app");
    const ok = parse('env = { NODE_ENV = "production", LOG = "1" }\n');
    const checked = errors('env_file = ".env"\n', dir).map((l) => l.replace(dir, "<app>"));
    expect([
      ok.infos?.env,
      errors('env = { PORT = "1" }\n'),
      errors("env = { N = 3 }\n"),
      errors('env = "NODE_ENV=production"\n'),
      errors('env_file = "../.env"\n', dir).map((l) => l.replaceAll(dir, "<app>")),
      errors('env_file = "missing.env"\n', dir).map((l) => l.replaceAll(dir, "<app>")),
      checked,
      checked.some((l) => l.includes("s3cr3t") || l.includes("postgres")),
    ]).toEqual([
      { NODE_ENV: "production", LOG: "1" },
      ["<app>/app.infos:1:1: error: env: env cannot set PORT: the proxy sets it for each slot"],
      ['<app>/app.infos:1:1: error: env.N: env values must be strings (quote numbers: "3")'],
      ['<app>/app.infos:1:1: error: env: env must be an inline table of strings, e.g. env = { NODE_ENV = "production" }'],
      ["<app>/app.infos:1:1: error: env_file: '../.env' is outside the app directory <app>"],
      ["<app>/app.infos:1:1: error: env_file: 'missing.env' not found in <app>"],
      [
        "<app>/.env:4:1: error: expected KEY=value (KEY of letters, digits and '_')",
        '<app>/.env:5:7: error: the value of TOKEN has no closing "',
        "<app>/.env:6:1: warning: PORT is set by the proxy for each slot; this one is ignored",
      ],
      false,
    ]);
  });

  test("an env_file that is a symlink leading out of the app directory is refused, as a path with '..' is", () => {
    using project = tempProject({ "other/.env": "SECRET=of-another-app\n", "app/config.env": "A=1\n" });
    const dir = join(project.dir, "app");
    symlinkSync(join(project.dir, "other", ".env"), join(dir, ".env"));
    symlinkSync("config.env", join(dir, "inside.env"));
    const out = (text: string) => errors(text, dir).map((l) => l.replaceAll(dir, "<app>"));
    expect([out('env_file = ".env"\n'), out('env_file = "inside.env"\n')]).toEqual([
      ["<app>/app.infos:1:1: error: env_file: cannot read '.env': outside the app directory (symlink)"],
      [],
    ]);
  });

  test('stop_script = "" means no stop script, as the original writes it', () => {
    expect([parse('stop_script = ""\n').issues, parse('stop_script = ""\n').infos?.stop_script]).toEqual([[], undefined]);
  });

  test("health_timeout is whole seconds from 1 to 3600; anything else names the line", () => {
    expect([
      parse("health_timeout = 120\n").infos?.health_timeout,
      errors("health_timeout = 0\n"),
      errors("health_timeout = 3601\n"),
      errors('\nhealth_timeout = "45"\n'),
      errors("health_timeout = 1.5\n"),
    ]).toEqual([
      120,
      ["<app>/app.infos:1:1: error: health_timeout: health_timeout must be at least 1"],
      ["<app>/app.infos:1:1: error: health_timeout: health_timeout must be at most 3600"],
      ["<app>/app.infos:2:1: error: health_timeout: health_timeout must be an integer"],
      ["<app>/app.infos:1:1: error: health_timeout: health_timeout must be an integer"],
    ]);
  });

  test("type errors name the file, line and field; unknown keys are warnings", () => {
    expect(errors('workers = "two"\ncolour = "red"\nhealth_check = "health"\n')).toEqual([
      "<app>/app.infos:2:1: warning: unknown key 'colour' ignored",
      "<app>/app.infos:3:1: error: health_check: health_check must be a path starting with '/'",
      "<app>/app.infos:1:1: error: workers: workers must be an integer",
    ]);
  });

  test("names that are not one path component and domains that are not DNS names are refused", () => {
    expect([...errors('name = ".."\n'), ...errors('name = "a/b"\n'), ...errors('domain = "shop example.com"\n')]).toEqual([
      "<app>/app.infos:1:1: error: name: name may contain only letters, digits, '.', '_' and '-', and must not start with '.'",
      "<app>/app.infos:1:1: error: name: name may contain only letters, digits, '.', '_' and '-', and must not start with '.'",
      "<app>/app.infos:1:1: error: domain: domain must be a DNS name like shop.example.com",
    ]);
  });

  test("a start or stop script whose program leaves the app directory is refused", () => {
    expect([
      ...errors('start_script = "../other/server --port $PORT"\n'),
      ...errors('start_script = "./bin/../../../usr/bin/env"\n'),
      ...errors('stop_script = "tools/../../x"\n'),
      ...errors('start_script = "./server $PORT"\nstop_script = "/usr/bin/kill -TERM 1"\n'),
      ...errors('start_script = "bun server.ts"\n'),
    ]).toEqual([
      `<app>/app.infos:1:1: error: start_script: program '../other/server' is outside the app directory ${DIR}`,
      `<app>/app.infos:1:1: error: start_script: program './bin/../../../usr/bin/env' is outside the app directory ${DIR}`,
      `<app>/app.infos:1:1: error: stop_script: program 'tools/../../x' is outside the app directory ${DIR}`,
    ]);
  });

  test("a program that is a symlink out of the app directory is refused", () => {
    using project = tempProject({ "sites/x.example.com/app.infos": "" });
    const dir = join(project.dir, "sites", "x.example.com");
    symlinkSync("/usr/bin/env", join(dir, "run-me"));
    expect(errors('start_script = "./run-me"\n', dir)).toEqual([
      `<app>/app.infos:1:1: error: start_script: program './run-me' links outside the app directory ${dir}`,
    ]);
  });
});

describe("docker_options allow-list (SPEC §14.5)", () => {
  test("allowed flags in both spellings become --flag=value; volume sources resolve inside the app directory", () => {
    expect(
      parseDockerOptions(
        "-e A=1 --env=B=2 -l x=y --memory 64m -m 1g --cpus 0.5 --cpu-shares 512 --pids-limit 50 --shm-size 64m --stop-timeout 5 --health-cmd=true --health-interval 5s --read-only --tmpfs /tmp --ulimit nofile=1024 -v ./data:/data -v /srv/sites/shop.example.com/cache:/cache:ro",
        DIR,
      ),
    ).toEqual({
      ok: true,
      argv: [
        "--env=A=1",
        "--env=B=2",
        "--label=x=y",
        "--memory=64m",
        "--memory=1g",
        "--cpus=0.5",
        "--cpu-shares=512",
        "--pids-limit=50",
        "--shm-size=64m",
        "--stop-timeout=5",
        "--health-cmd=true",
        "--health-interval=5s",
        "--read-only",
        "--tmpfs=/tmp",
        "--ulimit=nofile=1024",
        `--volume=${DIR}/data:/data`,
        `--volume=${DIR}/cache:/cache:ro`,
      ],
    });
  });

  test("every other flag, escaping or named volumes, and missing values are refused with the flag named", () => {
    const refused = [
      "--privileged",
      "--network host",
      "-p 80:80",
      "--cap-add=ALL",
      "--user=0",
      "--mount type=bind,src=/,dst=/h",
      "-v /etc:/etc",
      "-v ../other:/o",
      "-v data:/data",
      "-v /anon",
      "--memory",
      "image-name",
    ];
    expect(refused.map((o) => parseDockerOptions(o, DIR))).toEqual([
      { ok: false, error: "docker option '--privileged' is not allowed" },
      { ok: false, error: "docker option '--network' is not allowed" },
      { ok: false, error: "docker option '-p' is not allowed" },
      { ok: false, error: "docker option '--cap-add' is not allowed" },
      { ok: false, error: "docker option '--user' is not allowed" },
      { ok: false, error: "docker option '--mount' is not allowed" },
      { ok: false, error: `volume '/etc:/etc' must be a bind mount inside ${DIR}` },
      { ok: false, error: `volume '../other:/o' must be a bind mount inside ${DIR}` },
      { ok: false, error: `volume 'data:/data' must be a bind mount inside ${DIR}` },
      { ok: false, error: `volume '/anon' must be a bind mount inside ${DIR}` },
      { ok: false, error: "docker option '--memory' needs a value" },
      { ok: false, error: "docker option 'image-name' is not allowed" },
    ]);
  });

  test("a volume source that is a symlink out of the app directory is refused", () => {
    using project = tempProject({ "sites/v.example.com/app.infos": "" });
    const dir = join(project.dir, "sites", "v.example.com");
    symlinkSync("/etc", join(dir, "conf"));
    expect(parseDockerOptions("-v ./conf:/conf", dir)).toEqual({ ok: false, error: `volume './conf:/conf' must be a bind mount inside ${dir}` });
  });

  test("check reports a refused docker option like any app.infos error", () => {
    using project = tempProject({
      "proxy.conf": "default -> http://127.0.0.1:9\n",
      "sites/box.example.com/app.infos": 'docker_image = "x"\ndocker_options = "--privileged"\n',
    });
    const lines: string[] = [];
    const code = check({ conf: project.conf, sitesDir: join(project.dir, "sites"), out: (l) => lines.push(l.replace(project.dir, "<dir>")) });
    expect([code, lines]).toEqual([
      1,
      ["<dir>/sites/box.example.com/app.infos:2:1: error: docker_options: docker option '--privileged' is not allowed", "1 error, 0 warnings"],
    ]);
  });
});

describe("host rules behind a managed app (SPEC §3.7, §5.3)", () => {
  test("check warns that a host rule for an app's host (any case, a trailing dot, or its www. form) never runs, and that its auth protects nothing", () => {
    using project = tempProject({
      "proxy.conf": [
        "Shop.Example.com. -> http://127.0.0.1:9 @auth:admin:$2b$04$abcdefghijklmnopqrstuuJ7q2ZDoNkKpQw0tLKMUrQyR0VVNLJfG",
        "www.shop.example.com -> http://127.0.0.1:9",
        "shop.example.com/admin/* -> http://127.0.0.1:9",
        "other.example.com -> http://127.0.0.1:9",
        "",
      ].join("\n"),
      "sites/shop.example.com/app.infos": 'start_script = "bun run server.ts"\nuser = "nobody"\n',
    });
    const lines: string[] = [];
    const code = check({ conf: project.conf, sitesDir: join(project.dir, "sites"), out: (l) => lines.push(l.replaceAll(project.dir, "<dir>")) });
    const app = "the managed app shop.example.com in <dir>/sites/shop.example.com answers that host first";
    expect([code, lines]).toEqual([
      0,
      [
        `<dir>/proxy.conf:1:1: warning: rule 'shop.example.com.' can never match (its auth protects nothing): ${app} (host+path rules such as 'shop.example.com/admin/*' and the global [auth] policy do apply to it)`,
        `<dir>/proxy.conf:2:1: warning: rule 'www.shop.example.com' can never match: ${app} (host+path rules such as 'www.shop.example.com/admin/*' and the global [auth] policy do apply to it)`,
        "ok: 4 rules, 1 app, 0 certificates",
      ],
    ]);
  });
});

describe("apps never run as root (SPEC §14.4)", () => {
  test('check as root refuses user = "root", user = "0" and [apps] default_user = "root", naming the app.infos', () => {
    const results = [
      ['user = "root"\n', ""],
      ['user = "0"\ngroup = "0"\n', ""],
      ["", '[apps]\ndefault_user = "root"\n'],
    ].map(([infos, toml]) => {
      using project = tempProject({
        "proxy.conf": "default -> http://127.0.0.1:9\n",
        "config.toml": toml!,
        "sites/root.example.com/app.infos": `start_script = "bun run server.ts"\n${infos}`,
      });
      const lines: string[] = [];
      const code = check({ conf: project.conf, sitesDir: join(project.dir, "sites"), uid: 0, out: (l) => lines.push(l.replaceAll(project.dir, "<dir>")) });
      return [
        code,
        lines.filter(
          (l) => l.startsWith("<dir>/sites/root.example.com/app.infos: error: User") && l.includes("is root (uid 0), and soli-proxy never runs an app as root"),
        ).length,
      ];
    });
    expect(results).toEqual([
      [1, 1],
      [1, 1],
      [1, 1],
    ]);
  });
});

describe("discovery and effective configuration (SPEC §14.1, §14.3, §14.9)", () => {
  test("directories named like a domain or starting with _ are apps; others are skipped with a warning", () => {
    using project = tempProject({
      "sites/shop.example.com/app.infos": 'start_script = "./server"\n',
      "sites/_admin/app.infos": 'start_script = "./admin"\n',
      "sites/notes/readme.txt": "x",
      "sites/.hidden.example.com/app.infos": "",
      "sites/file.example.com": "not a directory",
      "sites/bad_name.example.com/app.infos": "",
      "sites/twin.example.com/app.infos": 'name = "shop.example.com"\n',
      "sites/zcopy.example.com/app.infos": 'domain = "Shop.example.com"\n',
    });
    const sites = join(project.dir, "sites");
    const found = discoverApps(sites);
    expect([found.apps.map((a) => a.dir), found.issues.map((i) => formatIssue(i).replaceAll(sites, "<sites>"))]).toEqual([
      ["_admin", "shop.example.com"],
      [
        "<sites>/bad_name.example.com: error: 'bad_name.example.com' is not a domain name; set domain in app.infos or rename the directory",
        "<sites>/notes: warning: 'notes' skipped: an app directory is named after its domain (with a '.') or starts with '_'",
        "<sites>/twin.example.com/app.infos: error: app name 'shop.example.com' is already used by <sites>/shop.example.com",
        "<sites>/zcopy.example.com/app.infos: error: domain 'shop.example.com' is already served by <sites>/shop.example.com",
      ],
    ]);
  });

  test("start scripts are detected for LuaOnBeans and Soli layouts, with / as health check, and soli gets --dev in dev mode", () => {
    using project = tempProject({ "lua.example.com/luaonbeans.org": "", "soli.example.com/app/models/user.sl": "", "plain.example.com/index.html": "" });
    const at = (d: string) => join(project.dir, d);
    expect([detectStartScript(at("lua.example.com")), detectStartScript(at("soli.example.com")), detectStartScript(at("plain.example.com"))]).toEqual([
      { script: "./luaonbeans.org -D . -p $PORT -s", healthCheck: "/" },
      { script: "soli serve . --port $PORT --workers $WORKERS", healthCheck: "/" },
      null,
    ]);
    const soli = resolveAppConfig({ dir: "soli.example.com", path: at("soli.example.com"), infos: parse("").infos! }, { dev: true });
    expect([soli.startScript, soli.healthCheck]).toEqual(["soli serve . --port $PORT --workers $WORKERS --dev", "/"]);
  });

  test("the effective configuration: hosts with www. and dev alias, [apps] defaults, drain delay capped", () => {
    const infos = parse("graceful_timeout = 4\ndrain_delay = 9\n").infos!;
    const dev = resolveAppConfig(
      { dir: "shop.example.org", path: "/s/shop.example.org", infos },
      { dev: true, defaultUser: "www-data", defaultGroup: "www-data" },
    );
    const admin = resolveAppConfig({ dir: "_admin", path: "/s/_admin", infos: parse('user = "admin"\n').infos! }, { dev: true, defaultUser: "www-data" });
    expect([dev.hosts, dev.drainDelaySecs, dev.user, dev.group, dev.startScript, dev.healthCheck, admin.hosts, admin.domain, admin.user, admin.group]).toEqual([
      ["shop.example.org", "www.shop.example.org", "shop.example.test"],
      2,
      "www-data",
      "www-data",
      null,
      "/health",
      [],
      null,
      "admin",
      null,
    ]);
    expect(["shop.example.org", "demo.localhost", "a.test", "localhost"].map(devAlias)).toEqual(["shop.example.test", null, null, null]);
  });
});
