import picomatch from 'picomatch';

export interface GlobList {
  patterns: readonly string[];
  /** Index of the first pattern that matches, or -1. */
  firstMatch(name: string): number;
}

/**
 * Tool globs in the seeds' fnmatch style: `*` matches any run of characters (dots included),
 * `?` one character, `[abc]` a class. Compiled once per policy load.
 */
export function compileGlobs(patterns: readonly string[]): GlobList {
  const matchers = patterns.map((p) => picomatch(p.replaceAll('/', '\\/'), { dot: true, nonegate: true, noextglob: true, nobrace: true }));
  return {
    patterns,
    firstMatch(name: string) {
      // A tool name never contains '/', so picomatch's path semantics cannot split it.
      for (let i = 0; i < matchers.length; i++) if (matchers[i]!(name)) return i;
      return -1;
    },
  };
}
