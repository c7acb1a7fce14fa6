/**
 * User and group names → ids for the privilege drop (SPEC §14.4), read from /etc/passwd and
 * /etc/group (Bun has no getpwnam). Numeric ids are accepted as they are.
 */
import { readFileSync } from "node:fs";

export interface Identity {
  uid: number;
  gid: number;
  /** The user's home directory, exported as HOME to the app. */
  home: string;
  user: string;
}

export class IdentityError extends Error {
  override name = "IdentityError";
}

/**
 * The identity to run an app as: `user` with `group`, or, without a group, the group of the same
 * name, falling back to the user's primary group (Debian's `nobody` has `nogroup`, no `nobody`).
 */
export function resolveIdentity(user: string, group: string | null, files = { passwd: "/etc/passwd", group: "/etc/group" }): Identity {
  const passwd = readTable(files.passwd);
  const groups = readTable(files.group);
  const entry = /^\d+$/.test(user) ? passwd.find((f) => f[2] === user) : passwd.find((f) => f[0] === user);
  if (!entry && !/^\d+$/.test(user)) throw new IdentityError(`User '${user}' not found`);
  const uid = entry ? Number(entry[2]) : Number(user);
  // SPEC §14.4: a root proxy drops privileges for its apps. `user = "root"` in an app.infos (a file
  // inside the app's own directory, often written by whoever deploys the app) must not undo that.
  if (uid === 0) throw new IdentityError(`User '${user}' is root (uid 0), and soli-proxy never runs an app as root`);
  const home = entry?.[5] || "/";
  let gid: number;
  if (group !== null) {
    const g = /^\d+$/.test(group) ? [group, "", group] : groups.find((f) => f[0] === group);
    if (!g) throw new IdentityError(`Group '${group}' not found`);
    gid = Number(g[2]);
  } else {
    const same = groups.find((f) => f[0] === (entry?.[0] ?? user));
    if (same) gid = Number(same[2]);
    else if (entry) gid = Number(entry[3]);
    else throw new IdentityError(`Group '${user}' not found`);
  }
  return { uid, gid, home, user: entry?.[0] ?? user };
}

function readTable(file: string): string[][] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}
