import { parseSyslogUrl, reasonSnippet } from './sinks.js';

describe('SIEM sink helpers', () => {
  it('cuts the token out of an error answer, however the receiver echoed it', () => {
    const token = 'hec/token+42';
    const echoed = `bad auth: Splunk ${token} (${encodeURIComponent(token)}, ${Buffer.from(token).toString('base64')})`;
    const snippet = reasonSnippet(echoed, token);
    expect(snippet).toBe('bad auth: Splunk [redacted] ([redacted], [redacted])');
  });

  it('keeps a reason to one line of at most 200 characters', () => {
    const snippet = reasonSnippet(`line one\nline two\r\n${'x'.repeat(500)}`, undefined);
    expect(snippet).not.toMatch(/[\r\n]/);
    expect(snippet.startsWith('line one line two x')).toBe(true);
    expect(snippet.length).toBe(201);
  });

  it('reads udp:// and tcp:// syslog addresses', () => {
    expect(parseSyslogUrl('udp://siem.example:514')).toEqual({
      protocol: 'udp',
      host: 'siem.example',
      port: 514,
    });
    expect(parseSyslogUrl('tcp://10.0.0.5:6514')).toEqual({
      protocol: 'tcp',
      host: '10.0.0.5',
      port: 6514,
    });
    expect(() => parseSyslogUrl('http://siem:514')).toThrow('SIEM_SYSLOG_URL');
  });
});
