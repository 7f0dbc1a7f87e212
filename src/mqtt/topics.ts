/**
 * Topic names, in one place. Keys go into topic levels only through `encodeURIComponent`, so a key with
 * `/`, `+`, `#`, `$`, spaces or unicode is always exactly one safe level. Ingest refuses keys that are not
 * well-formed Unicode; one that reaches a topic anyway (state saved by an older version) has its lone
 * surrogates read as U+FFFD rather than throw in the middle of publishing.
 */
export interface Topics {
  base: string;
  accessFilter: string;
  accessPrefix: string;
  status: string;
  stats: string;
  errors: string;
  predictions: string;
  pattern(key: string): string;
  patternPrefix: string;
  patternFilter: string;
  /** Bridge API (Zigbee2MQTT style): `B/request/<command>` answered on `B/response/<command>`. */
  requestFilter: string;
  requestPrefix: string;
  response(command: string): string;
  responsePrefix: string;
}

export function topics(base: string): Topics {
  return {
    base,
    accessFilter: `${base}/access/#`,
    accessPrefix: `${base}/access`,
    status: `${base}/status`,
    stats: `${base}/stats`,
    errors: `${base}/errors`,
    predictions: `${base}/predictions`,
    pattern: (key: string) => `${base}/pattern/${encodeURIComponent(key.toWellFormed())}`,
    patternPrefix: `${base}/pattern`,
    patternFilter: `${base}/pattern/#`,
    requestFilter: `${base}/request/#`,
    requestPrefix: `${base}/request/`,
    response: (command: string) => `${base}/response/${command}`,
    responsePrefix: `${base}/response`,
  };
}

/** The source levels after `B/access/` ('' when the message was published to `B/access` itself). */
export function sourceOf(t: Topics, topic: string): string {
  return topic.length > t.accessPrefix.length + 1 ? topic.slice(t.accessPrefix.length + 1) : '';
}

/** The key of a `B/pattern/<key>` topic (the inverse of `pattern`), or null if patternd could not have published it. */
export function keyOfPattern(t: Topics, topic: string): string | null {
  if (!topic.startsWith(`${t.patternPrefix}/`)) return null;
  const level = topic.slice(t.patternPrefix.length + 1);
  if (level === '' || level.includes('/')) return null;
  try {
    return decodeURIComponent(level);
  } catch {
    return null;
  }
}
