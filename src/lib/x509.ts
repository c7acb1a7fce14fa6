/**
 * @peculiar/x509 with what it needs loaded first: its dependency injection container (tsyringe)
 * requires the Reflect metadata polyfill before the library is evaluated, and it uses the
 * WebCrypto provider Bun ships.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

export { x509 };
