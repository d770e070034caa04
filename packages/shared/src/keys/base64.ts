/**
 * Strict base64 decoding. `Buffer.from(s, 'base64')` skips invalid characters and ignores non-zero padding
 * bits, so several strings decode to the same bytes; a signed format must accept exactly one spelling.
 * Re-encoding and comparing rejects every non-canonical form in O(n).
 */
export function decodeBase64Strict(text: string, encoding: 'base64' | 'base64url'): Buffer | undefined {
  const bytes = Buffer.from(text, encoding);
  return bytes.toString(encoding) === text ? bytes : undefined;
}
