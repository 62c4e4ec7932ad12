import fc from 'fast-check';
import { resolveProject } from './project.js';

describe('resolveProject', () => {
  const configured = new Set(['default', 'acme']);

  it('takes a configured project, and default without the header', () => {
    expect(resolveProject('acme', configured)).toEqual({ project: 'acme', error: null });
    expect(resolveProject(undefined, configured)).toEqual({ project: 'default', error: null });
    expect(resolveProject('', configured)).toEqual({ project: 'default', error: null });
    expect(resolveProject('default', new Set())).toEqual({ project: 'default', error: null });
  });

  it('refuses a well-formed project that has no config, naming it and the files that would create it', () => {
    const { project, error } = resolveProject('acme-typo', configured);
    expect(project).toBe('default');
    expect(error?.code).toBe('REQUEST.UNKNOWN_PROJECT');
    expect(error?.httpStatus).toBe(404);
    expect(error?.details).toEqual({ project: 'acme-typo' });
    expect(error?.message).toContain('policies/acme-typo.yaml');
    expect(error?.message).toContain('model_keys/acme-typo.yaml');
    expect(error?.message).toContain('contextual_policies/acme-typo.yaml');
  });

  it('refuses a malformed project as invalid, not as unknown', () => {
    expect(resolveProject('../etc', configured).error?.code).toBe('REQUEST.INVALID_PROJECT');
    expect(resolveProject('Acme', configured).error?.code).toBe('REQUEST.INVALID_PROJECT');
  });

  it('never runs a request under a project that is not configured', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 70 }),
          fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,62}$/),
          fc.constantFrom('acme', 'default'),
        ),
        (header) => {
          const { project, error } = resolveProject(header, configured);
          expect(configured.has(project)).toBe(true);
          // Used as asked only when it exists; otherwise refused (an empty header means default).
          if (error === null) expect(project).toBe(header === '' ? 'default' : header);
          else expect(project).toBe('default');
          expect(error === null).toBe(header === '' || configured.has(header));
        },
      ),
    );
  });
});
