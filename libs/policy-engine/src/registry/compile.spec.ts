import {
  contextualFileSchema,
  modelKeysFileSchema,
  policyFileSchema,
  projectsOf,
  type GatewayFiles,
} from '@sg/config';
import { compileProjects } from './compile.js';

const policy = (allow: string[]) =>
  policyFileSchema.parse({ rules: [{ model: '*', allow_tools: allow }] });
const keys = modelKeysFileSchema.parse({ models: {} });

function files(over: Partial<Omit<GatewayFiles, 'projects'>>): GatewayFiles {
  const f = {
    dir: '/cfg',
    version: 'v',
    tools: new Map(),
    policies: new Map([['default', policy(['a.*'])]]),
    modelKeys: new Map([['default', keys]]),
    contextual: new Map(),
    peers: null,
    admins: null,
    plugins: null,
    preview: { policies: new Map(), contextual: new Map() },
    ...over,
  };
  return { ...f, projects: projectsOf(f) };
}

describe('compileProjects', () => {
  it('has no shadow when no preview file exists', () => {
    expect(compileProjects(files({})).shadow.size).toBe(0);
  });

  it('gives the default preview to projects that have no live file of their own, and only to them', () => {
    const out = compileProjects(
      files({
        policies: new Map([
          ['default', policy(['a.*'])],
          ['acme', policy(['b.*'])],
        ]),
        preview: { policies: new Map([['default', policy(['c.*'])]]), contextual: new Map() },
      }),
    );
    expect(out.shadow.get('default')?.file).toBe('policies/default.preview.yaml');
    expect(out.shadow.get('acme')).toBeUndefined();
    expect(out.live.get('acme')?.file).toBe('policies/acme.yaml');
  });

  it('shadows the live policy with a contextual preview alone', () => {
    const out = compileProjects(
      files({
        preview: {
          policies: new Map(),
          contextual: new Map([
            ['default', contextualFileSchema.parse({ max_calls_per_session: 1 })],
          ]),
        },
      }),
    );
    const shadow = out.shadow.get('default')!;
    expect(shadow.file).toBe('policies/default.yaml');
    expect(shadow.contextualFile).toBe('contextual_policies/default.preview.yaml');
    expect(shadow.contextual.max_calls_per_session).toBe(1);
  });
});

describe('PolicyStore.snapshot', () => {
  const storeOf = async (f: GatewayFiles) => {
    const { PolicyStore } = await import('./policy-store.js');
    return new PolicyStore({
      register: (reload: (x: GatewayFiles) => () => void) => reload(f)(),
    } as never);
  };

  it('uses the default shadow only for projects without files of their own', async () => {
    const store = await storeOf(
      files({
        policies: new Map([
          ['default', policy(['a.*'])],
          ['acme', policy(['b.*'])],
        ]),
        contextual: new Map([['ctx-only', contextualFileSchema.parse({})]]),
        preview: { policies: new Map([['default', policy(['c.*'])]]), contextual: new Map() },
      }),
    );
    expect(store.snapshot('acme')?.shadow).toBeUndefined();
    expect(store.snapshot('ctx-only')?.shadow?.file).toBe('policies/default.preview.yaml');
    expect(store.snapshot('default')?.shadow?.file).toBe('policies/default.preview.yaml');
  });

  it('has no view of a project without a live file of its own, so it is never decided by the default files', async () => {
    const store = await storeOf(
      files({
        policies: new Map([['default', policy(['a.*'])]]),
        modelKeys: new Map([
          ['default', keys],
          ['keys-only', keys],
        ]),
        preview: { policies: new Map([['preview-only', policy(['c.*'])]]), contextual: new Map() },
      }),
    );
    expect(store.snapshot('unknown-project')).toBeNull();
    expect(store.snapshot('preview-only')).toBeNull();
    // An existing project still takes each missing kind from the default project.
    expect(store.snapshot('keys-only')).toMatchObject({
      policy: { file: 'policies/default.yaml' },
      keys: { file: 'model_keys/keys-only.yaml' },
    });
  });
});
