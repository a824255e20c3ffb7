export { VARIABLE_LENGTH, sameDefinition, minRecordLength, hasVariableLength } from './template.js';
export type { TemplateDef, TemplateField } from './template.js';
export { encodeTemplate, decodeTemplate, layoutKey, TemplateCodecError, TEMPLATE_CODEC_VERSION } from './codec.js';
export { DEFAULT_LIMITS, resolveLimits, LimitsError } from './limits.js';
export type { TemplateLimits } from './limits.js';
export { PendingQueue, PendingBudget } from './pending.js';
export type { PendingEntry, PendingHeader } from './pending.js';
export { TemplateCache, TemplateScope } from './cache.js';
export type { TemplateEntry, TemplateEvent, LearnResult, OptionsRow, TemplateObserver } from './cache.js';
