import { gatewayFromEnv } from './env.js';

it('reads the gateway from SG_GATEWAY_URL, SG_API_KEY and SG_PROJECT_ID, empty as unset', () => {
  expect(
    gatewayFromEnv({ SG_GATEWAY_URL: 'http://gw:8080', SG_API_KEY: 'k', SG_PROJECT_ID: '' }),
  ).toEqual({ url: 'http://gw:8080', apiKey: 'k', project: undefined });
});

it('names a bad variable without showing its value', () => {
  const read = () => gatewayFromEnv({ SG_GATEWAY_URL: 'ftp://user:secret@gw' });
  expect(read).toThrow(/SG_GATEWAY_URL: use an http\(s\) URL/);
  expect(read).not.toThrow(/secret/);
});
