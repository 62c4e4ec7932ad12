import picomatch from 'picomatch';

export interface GlobList {
  patterns: readonly string[];
  /** Index of the first pattern that matches, or -1. */
  firstMatch(name: string): number;
}

const GLOB_CHARS = /[*?[\]{}()!+@\\]/;
const OPTIONS = { dot: true, nonegate: true, noextglob: true, nobrace: true } as const;
/** Stands in for '/' (of `<peer>/<tool>` names) so that picomatch's `*` crosses it like fnmatch's. */
const SLASH = '\u0001';

/** One pattern as the cheapest test that gives picomatch's answer for a tool name. */
function matcherOf(pattern: string): (name: string) => boolean {
  if (!GLOB_CHARS.test(pattern)) return (name) => name === pattern;
  const prefix = pattern.slice(0, -1);
  if (pattern.endsWith('*') && !GLOB_CHARS.test(prefix)) {
    // `calendar.*`, `gw-b/*`: * is any run of characters, '/' included.
    return prefix === '' ? () => true : (name) => name.startsWith(prefix);
  }
  const re = picomatch.makeRe(pattern.replaceAll('/', SLASH), OPTIONS);
  return (name) => re.test(name.includes('/') ? name.replaceAll('/', SLASH) : name);
}

/**
 * Tool globs in the seeds' fnmatch style: `*` matches any run of characters (dots and the '/'
 * of a peer's `<peer>/<tool>` included),
 * `?` one character, `[abc]` a class. Compiled once per policy load.
 */
export function compileGlobs(patterns: readonly string[]): GlobList {
  const matchers = patterns.map(matcherOf);
  return {
    patterns,
    firstMatch(name: string) {
      for (let i = 0; i < matchers.length; i++) if (matchers[i]!(name)) return i;
      return -1;
    },
  };
}
