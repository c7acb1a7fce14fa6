/**
 * Which ACME directory to use (SPEC §4 `letsencrypt.*`): `directory_url` when given, else Let's
 * Encrypt's staging or production directory. Kept apart from acme.ts, which loads acme-client.
 */
export const LETSENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory";
export const LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

export function acmeDirectoryUrl(letsencrypt: { staging: boolean; directory_url?: string | undefined }): string {
  return letsencrypt.directory_url ?? (letsencrypt.staging ? LETSENCRYPT_STAGING : LETSENCRYPT_PRODUCTION);
}
