import { describe, expect, test } from "bun:test";
import { resolveAppConfig } from "../../src/apps/config.ts";
import { containerName, dockerRunArgv } from "../../src/apps/docker.ts";
import { parseAppInfos } from "../../src/apps/infos.ts";

const app = (infos: string) => {
  const parsed = parseAppInfos(infos, "/srv/sites/box.example.com/app.infos");
  return resolveAppConfig({ dir: "box.example.com", path: "/srv/sites/box.example.com", infos: parsed.infos! }, { dev: false });
};

describe("docker run argv (SPEC §14.5)", () => {
  test("names the container, publishes the port on 127.0.0.1 only, puts the options before the env and the script after the image", () => {
    const config = app(
      'docker_image = "example/box:1"\ndocker_options = "-e A=1 -v ./data:/data"\nstart_script = "serve --port $PORT -w $WORKERS"\nworkers = 3\nhealth_check = "/up"\n',
    );
    expect(dockerRunArgv(config, config.docker!, "green", 20001)).toEqual([
      "run",
      "-d",
      "--name",
      "soli-box.example.com-green",
      "--network",
      "soli-apps",
      "-p",
      "127.0.0.1:20001:20001",
      "--env=A=1",
      "--volume=/srv/sites/box.example.com/data:/data",
      "-e",
      "PORT=20001",
      "-e",
      "WORKERS=3",
      "-e",
      "HEALTH_CHECK=/up",
      "example/box:1",
      "serve",
      "--port",
      "20001",
      "-w",
      "3",
    ]);
  });

  test("without a start script the image's own command runs, on the configured network", () => {
    const config = app('docker_image = "example/box:1"\ndocker_network = "apps"\n');
    expect([
      containerName("box.example.com", "blue"),
      dockerRunArgv(config, config.docker!, "blue", 20000).slice(4, 6),
      dockerRunArgv(config, config.docker!, "blue", 20000).at(-1),
    ]).toEqual(["soli-box.example.com-blue", ["--network", "apps"], "example/box:1"]);
  });
});
