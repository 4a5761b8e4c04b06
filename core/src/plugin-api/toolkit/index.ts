export * from './http.js';
export * from './health.js';
export * from './fingerprint.js';
export * from './threat-intel.js';
export * from './http-client.js';
export * from './window-cursor.js';
export { parseSyslogHeader, type SyslogHeader } from './syslog.js';
export { HttpTransport, type TransportTlsSettings } from './transport.js';
