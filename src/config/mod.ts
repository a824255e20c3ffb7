/**
 * Configuration of `flow-collector serve`: the only public surface of src/config.
 * See docs/configuration.md.
 */
export { loadConfig, parseServeArgs, configJsonSchema, formatConfig, listenerLimits, kvRefreshMs, autoWorkers, envVariables, ENV_PREFIX } from './load.js';
export type { ServeFlags, LoadOptions, LoadResult, ParsedServeArgs } from './load.js';
export { ConfigError, subjectMatches, subjectProblem } from './check.js';
export { FileConfigSchema, CollectorConfigSchema, DEFAULT_PORTS, DEFAULT_METRICS_ADDRESS, MIN_QUEUE_BYTES } from './schema.js';
export type {
  CollectorConfig,
  CollectorConfigFile,
  ListenerConfig,
  OutputConfig,
  StdoutOutput,
  FileOutput,
  NatsOutput,
  NatsConfig,
  TemplateStoreConfig,
  TemplateLimitsConfig,
  SamplingRuleConfig,
  Protocol,
  SpreadMode,
  DropPolicy,
  Format,
  NatsFormat,
  LogLevel,
} from './schema.js';
export { isServiceRadarConfig, ASSUMED_FLOW_BYTES, PENDING_BYTES_CAP } from './serviceradar.js';
