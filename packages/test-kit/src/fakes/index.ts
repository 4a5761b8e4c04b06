// Vendor API fakes: local HTTP servers that reproduce each documented API (shared/docs/vendor-apis.md).
export * from './elasticsearch.js';
export * from './splunk.js';
export * from './graylog.js';
export * from './virustotal.js';
export * from './abuseipdb.js';
export * from './otx.js';
export * from './misp.js';
