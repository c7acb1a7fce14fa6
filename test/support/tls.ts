/**
 * TLS helpers for certificate tests: what certificate a listener presents for a server name, and
 * writing pairs into a certificate store with the SPEC §12.1 names.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";

export interface Presented {
  /** Subject CN. */
  cn: string;
  /** subjectAltName as Node prints it (`DNS:a, DNS:b`). */
  sans: string;
  serial: string;
}

/** The leaf certificate the listener on 127.0.0.1:`port` presents for `servername` (none: no SNI). */
export function presented(port: number, servername?: string): Promise<Presented> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve({ cn: String(cert.subject?.CN ?? ""), sans: cert.subjectaltname ?? "", serial: cert.serialNumber });
    });
    socket.on("error", reject);
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error(`no TLS handshake with 127.0.0.1:${port} within 5 s`));
    });
  });
}

/** Writes `<base>.cert.pem` and `<base>.key.pem` into `dir` (base: `crm.example.test`, `_wildcard.example.test`). */
export function writePair(dir: string, base: string, pair: { cert: string; key: string }): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const paths = { cert: join(dir, `${base}.cert.pem`), key: join(dir, `${base}.key.pem`) };
  writeFileSync(paths.key, pair.key);
  writeFileSync(paths.cert, pair.cert);
  return paths;
}
