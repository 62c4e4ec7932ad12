import type { PolicyVersion } from '@sg/contracts';
import { kindAndProjectOf, problemLine, versionProblems } from './policy.js';

let n = 0;
function version(over: Partial<PolicyVersion> = {}): PolicyVersion {
  n++;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    project: 'default',
    kind: 'policies',
    sha256: 'a'.repeat(64),
    parent_id: null,
    author: 'file',
    source: 'file',
    reason: 'edited',
    created_at: '2026-05-01T00:00:00.000Z',
    key_id: 'policy-1',
    verified: true,
    signature: null,
    ...over,
  };
}

/** A history, newest first, each version the parent of the one after it. */
function chain(length: number): PolicyVersion[] {
  const oldestFirst: PolicyVersion[] = [];
  for (let i = 0; i < length; i++)
    oldestFirst.push(version({ parent_id: oldestFirst[i - 1]?.id ?? null }));
  return oldestFirst.reverse();
}

describe('kindAndProjectOf', () => {
  it('reads the kind and the project from a <kind>/<project>.yaml path', () => {
    expect(kindAndProjectOf('config/policies/default.yaml')).toEqual({
      kind: 'policies',
      project: 'default',
    });
    expect(kindAndProjectOf('/etc/sg/model_keys/team-a.yml')).toEqual({
      kind: 'model_keys',
      project: 'team-a',
    });
    for (const path of [
      'default.yaml',
      'tools/default.yaml',
      'policies/Default.yaml',
      'policies/x.json',
    ])
      expect(kindAndProjectOf(path)).toBeNull();
  });
});

describe('problemLine', () => {
  it('prints a problem as file:line:column: reason, without the position the gateway does not know', () => {
    expect(
      problemLine('p.yaml', { file: 'policies/default.yaml', line: 3, column: 5, reason: 'bad' }),
    ).toBe('p.yaml:3:5: bad');
    expect(
      problemLine('p.yaml', {
        file: 'policies/default.yaml',
        line: null,
        column: null,
        reason: 'alias\nbomb',
      }),
    ).toBe('p.yaml: alias\\nbomb');
  });
});

describe('versionProblems', () => {
  it('finds nothing in a signed history whose parents link up', () => {
    expect(versionProblems(chain(4))).toEqual([]);
    expect(versionProblems([])).toEqual([]);
  });

  it('names a version whose signature does not verify, and an unsigned one', () => {
    const history = chain(3);
    history[1] = { ...history[1]!, verified: false };
    history[2] = { ...history[2]!, verified: false, key_id: null };
    expect(versionProblems(history)).toEqual([
      {
        id: history[1]!.id,
        problem: 'its signature or content digest does not verify (key policy-1)',
      },
      {
        id: history[2]!.id,
        problem: 'it is unsigned (stored while no signing key was configured)',
      },
    ]);
  });

  it('names a broken chain: a version removed from the middle, or a first version with a parent', () => {
    const history = chain(4);
    const removed = history.splice(2, 1)[0]!;
    expect(versionProblems(history)).toEqual([
      {
        id: history[1]!.id,
        problem: `its parent is ${removed.id}, but the version before it is ${history[2]!.id}`,
      },
    ]);
    const cut = chain(3).slice(0, 2);
    expect(versionProblems(cut)).toEqual([
      { id: cut[1]!.id, problem: `its parent ${cut[1]!.parent_id} is not in the history` },
    ]);
  });
});
