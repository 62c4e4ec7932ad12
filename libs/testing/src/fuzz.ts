// The fuzzer of issue 16 §5: HTTP requests over an OpenAPI document, and NATS requests.
export * from './fuzz-inputs.js';
export * from './fuzz-http.js';
export * from './fuzz-nats.js';
