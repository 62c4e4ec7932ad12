export { maskPii, maskText } from './mask.js';
export {
  PII_TYPES,
  emptyReport,
  normalizeFieldName,
  REDACTED,
  mergeReports,
  totalMasked,
  type MaskingLevel,
  type MaskingReport,
  type MaskOptions,
  type PiiType,
} from './types.js';
export {
  luhnValid,
  ssnValid,
  ibanMod97Valid,
  ibanCheckDigits,
  IBAN_LENGTHS,
} from './validators.js';
