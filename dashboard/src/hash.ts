// The hash router's decoding, apart from the DOM so that it is tested on its own.

/**
 * The hash's text, percent-decoded part by part: the parts are what lies between `/`, `?`, `&` and `=`, which are
 * kept as they are. A typed or truncated link's stray `%` (`#/devices/50%`) is not percent-encoding: that part is
 * taken as written, not thrown, and the rest of the link (its range and window) is still read.
 */
export function decoded(s: string): string {
  return s.split(/([/?&=])/).map((part, i) => (i % 2 === 1 ? part : decodedPart(part))).join('');
}

function decodedPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
