import fc from 'fast-check';
import { callContext, decidedArguments } from './context.js';
import { MCPSecurityError } from './errors.js';

it('takes user and tenant from the arguments, then from _meta, then the defaults', () => {
  const meta = { 'securegateway/user_id': 'u2', 'securegateway/tenant_id': 't2' };
  expect(callContext({ user_id: 'u1', tenant_id: 't1' }, meta)).toEqual({
    user_id: 'u1',
    tenant_id: 't1',
  });
  expect(callContext({}, meta)).toEqual({ user_id: 'u2', tenant_id: 't2' });
  expect(callContext({ user_id: '' }, undefined)).toEqual({
    user_id: 'default_user',
    tenant_id: null,
  });
});

it('lets a tenant_id argument win even when it is no string, so _meta cannot replace it', () => {
  const meta = { 'securegateway/tenant_id': 'acme' };
  expect(callContext({ tenant_id: ['globex'] }, meta).tenant_id).toBeNull();
  expect(
    decidedArguments({ tenant_id: ['globex'] }, callContext({ tenant_id: ['globex'] }, meta)),
  ).toEqual({ tenant_id: ['globex'] });
});

it('puts a tenant from _meta into the arguments the gateway decides on', () => {
  const args = { customer_id: 'c-1' };
  const ctx = callContext(args, { 'securegateway/tenant_id': 'acme' });
  expect(decidedArguments(args, ctx)).toEqual({ customer_id: 'c-1', tenant_id: 'acme' });
  expect(args).toEqual({ customer_id: 'c-1' });
});

it('refuses a user id that cannot go in a header, rather than deciding for someone else', () => {
  for (const user_id of ['jürgen\u4e00', 'a\nb', 'x'.repeat(129)])
    expect(() => callContext({ user_id }, undefined)).toThrow(MCPSecurityError);
});

it('gives the handler only a tenant the gateway was asked about', () => {
  const value = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string()));
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom('tenant_id', 'user_id', 'customer_id'), value),
      fc.dictionary(fc.constantFrom('securegateway/tenant_id', 'securegateway/user_id'), value),
      (args, meta) => {
        let ctx;
        try {
          ctx = callContext(args, meta);
        } catch (err) {
          return err instanceof MCPSecurityError;
        }
        const decided = decidedArguments(args, ctx);
        return ctx.tenant_id === null || decided.tenant_id === ctx.tenant_id;
      },
    ),
  );
});
