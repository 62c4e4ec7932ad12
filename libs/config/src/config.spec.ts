import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import {
  baseEnvSchema,
  ConfigFileError,
  EnvError,
  loadGatewayFiles,
  applyVersions,
  lintConfigText,
  parseConfigText,
  parseEnv,
  policyFileSchema,
  unknownProjectMessage,
} from './index.js';

const EXAMPLES = resolve(import.meta.dirname, '../../../examples/config');

describe('parseEnv', () => {
  it('applies defaults', () => {
    const env = parseEnv(baseEnvSchema, {});
    expect(env.NATS_URL).toBe('nats://127.0.0.1:4222');
    expect(env.REQUEST_TIMEOUT_MS).toBe(3000);
  });

  it('names the bad variable and hides secret values', () => {
    const schema = z.object({
      PORT: z.coerce.number().int().max(65535),
      ADMIN_API_KEY: z.string().min(16),
    });
    let error: unknown;
    try {
      parseEnv(schema, { PORT: 'eighty', ADMIN_API_KEY: 'short-secret' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EnvError);
    const message = (error as Error).message;
    expect(message).toContain('PORT');
    expect(message).toContain('"eighty"');
    expect(message).toContain('ADMIN_API_KEY');
    expect(message).not.toContain('short-secret');
  });
});

describe('parseConfigText', () => {
  it('locates a YAML syntax error by line and column', () => {
    expect(() =>
      parseConfigText('p.yaml', 'rules:\n  - model: a\n  bad: : :\n', policyFileSchema),
    ).toThrow(/^p\.yaml:3:\d+: All mapping items must start at the same column/);
  });

  it('locates a schema error at the offending key', () => {
    const text =
      'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\n    allow_tool: ["x"]\n';
    try {
      parseConfigText('policies/default.yaml', text, policyFileSchema);
      throw new Error('should have failed');
    } catch (err) {
      const e = err as ConfigFileError;
      expect(e).toBeInstanceOf(ConfigFileError);
      expect(e.line).toBe(2);
      expect(e.reason).toMatch(/allow_tool/);
      expect(e.message).toMatch(/^policies\/default\.yaml:2:\d+: /);
    }
  });

  it('refuses custom tags and alias bombs, which would otherwise load as strings or blow up', () => {
    expect(() => parseConfigText('p.yaml', 'rules: !!js/function "x"\n', policyFileSchema)).toThrow(
      /^p\.yaml:1:\d+: Unresolved tag/,
    );
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
      .concat(
        ['b', 'c', 'd', 'e'].map(
          (k, i) => `${k}: &${k} [${`*${'abcd'[i]}, `.repeat(9)}*${'abcd'[i]}]`,
        ),
      )
      .join('\n');
    expect(() => parseConfigText('p.yaml', bomb, z.unknown())).toThrow(/alias/i);
  });

  it('lints: every problem, each located', () => {
    const out = lintConfigText(
      'p.yaml',
      'rules:\n  - model: 1\n    allow_tools: 2\nforbidden_fields: 3\n',
      policyFileSchema,
    );
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.problems.map((p) => p.line)).toEqual([2, 3, 4]);
  });
});

describe('loadGatewayFiles', () => {
  it('loads the example config', () => {
    const files = loadGatewayFiles(EXAMPLES);
    expect([...files.tools.keys()].sort()).toEqual(['calendar.list_events', 'db.write_sensitive']);
    expect(files.modelKeys.get('default')?.models['gpt-4o']?.key).toBe('modelkey-abc123');
    expect(files.policies.get('default')?.rules[0]?.allow_tools).toEqual(['calendar.*']);
    expect(files.version).toMatch(/^[0-9a-f]{12}$/);
    expect([...files.projects]).toEqual(['default']);
  });

  describe('with a broken copy', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'sg-cfg-'));
      cpSync(EXAMPLES, dir, { recursive: true });
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('refuses a tool file whose name does not match', () => {
      writeFileSync(
        join(dir, 'tools/calendar.list_events.json'),
        JSON.stringify({ name: 'other.tool', upstream: { type: 'http', url: 'http://x' } }),
      );
      expect(() => loadGatewayFiles(dir)).toThrow(/must match the file name/);
    });

    it('refuses a project file whose name is not a project id', () => {
      mkdirSync(join(dir, 'policies'), { recursive: true });
      writeFileSync(join(dir, 'policies/Bad.Name.yaml'), 'rules: []\n');
      expect(() => loadGatewayFiles(dir)).toThrow(/project id/);
    });

    it('changes version when a file changes', () => {
      const before = loadGatewayFiles(dir).version;
      writeFileSync(join(dir, 'policies/default.yaml'), 'rules: []\n');
      expect(loadGatewayFiles(dir).version).not.toBe(before);
    });

    it('knows a project by any live file of its own, and not by a preview file alone', () => {
      writeFileSync(join(dir, 'policies/pol-only.yaml'), 'rules: []\n');
      writeFileSync(join(dir, 'model_keys/keys-only.yml'), 'models: {}\n');
      writeFileSync(join(dir, 'contextual_policies/ctx-only.yaml'), 'max_calls_per_session: 3\n');
      writeFileSync(join(dir, 'policies/preview-only.preview.yaml'), 'rules: []\n');
      writeFileSync(join(dir, 'contextual_policies/preview-only2.preview.yaml'), '{}\n');
      expect([...loadGatewayFiles(dir).projects].sort()).toEqual([
        'ctx-only',
        'default',
        'keys-only',
        'pol-only',
      ]);
    });

    it('says how to create a project it does not know', () => {
      const message = unknownProjectMessage('acme');
      for (const file of [
        'policies/acme.yaml',
        'model_keys/acme.yaml',
        'contextual_policies/acme.yaml',
      ])
        expect(message).toContain(file);
      expect(message).toMatch(/without X-Project-ID the project is "default"/);
    });

    it('refuses a model with both key and key_sha256', () => {
      writeFileSync(
        join(dir, 'model_keys/default.yaml'),
        `models:\n  a:\n    key: abcdefghijklmnop\n    key_sha256: ${'a'.repeat(64)}\n`,
      );
      expect(() => loadGatewayFiles(dir)).toThrow(/at most one of key or key_sha256/);
    });

    it('has no peers without trusted_peers.yaml, and reads them with their defaults', () => {
      expect(loadGatewayFiles(dir).peers).toBeNull();
      const before = loadGatewayFiles(dir).version;
      writeFileSync(
        join(dir, 'trusted_peers.yaml'),
        'self: gw-a\npeers:\n  gw-b:\n    url: http://127.0.0.1:9094/forward\n    key_id: a-b\n    key: "{{secret:PEER_B}}"\n    allow: { tools: ["calendar.*"] }\n',
      );
      const files = loadGatewayFiles(dir);
      expect(files.version).not.toBe(before);
      expect(files.peers).toMatchObject({
        self: 'gw-a',
        max_hops: 2,
        peers: {
          'gw-b': {
            key_id: 'a-b',
            allow: { tools: ['calendar.*'], projects: ['default'] },
            timeout_ms: 5000,
            retries: 0,
            legacy_gateway_key: false,
          },
        },
      });
    });

    it.each([
      [
        'self as a peer',
        'self: gw-a\npeers:\n  gw-a: { url: "http://127.0.0.1:1/forward", key_id: k, key: "{{secret:K}}" }\n',
        /not its own peer/,
      ],
      [
        'a shared key id',
        'self: gw-a\npeers:\n  gw-b: { url: "http://x/forward", key_id: k, key: "{{secret:K}}" }\n  gw-c: { url: "http://y/forward", key_id: k, key: "{{secret:L}}" }\n',
        /also gw-b's/,
      ],
      [
        'no key',
        'self: gw-a\npeers:\n  gw-b: { url: "http://x/forward", key_id: k }\n',
        /exactly one of key/,
      ],
      [
        'an Ed25519 peer without signing',
        `self: gw-a\npeers:\n  gw-b: { url: "http://x/forward", key_id: k, public_key: "${'A'.repeat(44)}" }\n`,
        /set signing/,
      ],
      [
        'a peer id with capitals',
        'self: gw-a\npeers:\n  GW-B: { url: "http://x/forward", key_id: k, key: "{{secret:K}}" }\n',
        /lower-case/,
      ],
    ])('refuses trusted_peers.yaml with %s', (_name, text, message) => {
      writeFileSync(join(dir, 'trusted_peers.yaml'), text);
      expect(() => loadGatewayFiles(dir)).toThrow(message);
    });
  });
});

describe('the Kubernetes ConfigMap in deploy/base/', () => {
  it('holds a config directory the services accept', async () => {
    const { parseAllDocuments } = await import('yaml');
    const root = resolve(import.meta.dirname, '../../..');
    const docs = parseAllDocuments(readFileSync(join(root, 'deploy/base/config.yaml'), 'utf8')).map(
      (d) => d.toJS() as { metadata?: { name?: string }; data?: Record<string, string> },
    );
    const configMap = docs.find((d) => d.metadata?.name === 'sg-config');
    expect(configMap?.data).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'sg-deploy-'));
    try {
      for (const [key, text] of Object.entries(configMap!.data!)) {
        const [folder, file] = key.split('__') as [string, string];
        mkdirSync(join(dir, folder), { recursive: true });
        writeFileSync(join(dir, folder, file), text);
      }
      const files = loadGatewayFiles(dir);
      expect(files.tools.size).toBeGreaterThan(0);
      expect(files.modelKeys.get('default')).toBeDefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('applyVersions', () => {
  it('puts a version in place of its file, refuses one that does not validate or has no project, and changes the version', () => {
    const files = loadGatewayFiles(EXAMPLES);
    const id = '6f1d1c62-6f8e-4f53-9d0c-2d7f3d3f2a11';
    const out = applyVersions(files, [
      {
        id,
        project: 'default',
        kind: 'policies',
        content: 'rules:\n  - model: x\n    allow_tools: [a.*]\n',
      },
      { id: 'bad-1', project: 'default', kind: 'model_keys', content: 'models: 3\n' },
      { id: 'bad-2', project: 'nowhere', kind: 'policies', content: 'rules: []\n' },
    ]);
    expect(out.files.policies.get('default')!.rules[0]!.model).toBe('x');
    expect(out.files.modelKeys.get('default')).toBe(files.modelKeys.get('default'));
    expect(out.refused.map((r) => r.id)).toEqual(['bad-1', 'bad-2']);
    expect(out.refused[0]!.reason).toMatch(/^model_keys\/default\.yaml@bad-1/);
    expect(out.files.version).not.toBe(files.version);
    expect(applyVersions(files, []).files).toBe(files);
  });
});
