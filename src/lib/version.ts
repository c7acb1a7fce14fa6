import pkg from "../../package.json" with { type: "json" };

/** soli-proxy's version, from package.json (also compiled into the executable). */
export const VERSION: string = pkg.version;
