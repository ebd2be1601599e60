/**
 * A Signer turns serialized text into a tamper-proof package and back.
 * Packages from another secret key or another cluster name must fail to unsign.
 */
export interface Signer {
  /** Wrap `text` (already serialized) into a signed package string. */
  sign(text: string): string;
  /**
   * Verify and unwrap a package. Throws TaskqError with code
   * `TASKQ_BAD_SIGNATURE` (forged, other key or name), `TASKQ_BAD_PACKAGE`
   * (not a package at all) or `TASKQ_PACKAGE_EXPIRED` (older than maxAgeSeconds).
   */
  unsign(pkg: string, options?: { maxAgeSeconds?: number | null }): SignedContent;
}

export interface SignedContent {
  text: string;
  /** When the package was signed (ms since epoch). */
  signedAt: number;
}
