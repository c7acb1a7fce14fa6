/** Where an upstream client connects: host, port, TLS, and the key its idle connections share. */
export interface Endpoint {
  readonly hostname: string;
  readonly port: number;
  readonly secure: boolean;
  /** Pool key: one idle list per key. */
  readonly key: string;
}

export function endpointOf(u: { hostname: string; port: number; secure: boolean }): Endpoint {
  return { hostname: u.hostname, port: u.port, secure: u.secure, key: `${u.secure ? "tls" : "tcp"}:${u.hostname}:${u.port}` };
}
