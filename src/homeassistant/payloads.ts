import { createHash } from 'node:crypto';
import { PATTERNS } from '../engine/types.ts';
import type { Topics } from '../mqtt/topics.ts';
import { VERSION } from '../version.ts';

/**
 * Home Assistant MQTT discovery payloads (device-based: `<prefix>/device/<id>/config` with `components`),
 * pure functions of the names involved. Conventions and their sources: shared/reference/home-assistant-mqtt.md.
 *
 * Full option names rather than abbreviations: the payloads are few and small, and readable in
 * `mosquitto_sub` output.
 */
const SUPPORT_URL = 'https://github.com/patternd/patternd#readme';
const MANUFACTURER = 'patternd';
const SLUG_MAX = 40;
const DEVICE_NAME_MAX = 100;

export const ORIGIN = { name: 'patternd', sw_version: VERSION, support_url: SUPPORT_URL } as const;

export type Platform = 'sensor' | 'binary_sensor';

interface ComponentSpec {
  platform: Platform;
  name: string;
  value_template: string;
  [option: string]: unknown;
}

export type Component = ComponentSpec & { unique_id: string; default_entity_id: string };

export interface DeviceDiscovery {
  /** The device id: node id of the discovery topic, and the device's identifier. */
  id: string;
  topic: string;
  payload: {
    device: Record<string, unknown>;
    origin: typeof ORIGIN;
    availability_topic: string;
    state_topic: string;
    components: Record<string, Component>;
  };
}

/**
 * `[a-z0-9_]` with single underscores and none at either end: legal as a discovery topic level
 * (`[a-zA-Z0-9_-]`) and inside an entity id (no `__`, no leading or trailing `_`). '' when nothing is left
 * (a key of only symbols or non-Latin script).
 */
export function slug(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/\p{M}/gu, '') // accents off: é → e
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, SLUG_MAX)
    .replace(/^_+|_+$/g, '');
}

/** 48 bits of SHA-256: unique among 100,000 keys with odds of about 1 in 50,000 of any collision. */
function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}

function joinIds(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('_');
}

/** How every device id of patternd begins (its embedded broker lets no one else publish their configs). */
const DEVICE_ID_START = 'patternd_';

/** Slugs collide (`a b` and `a_b`), so ids carry a hash of the exact names; the slug keeps them readable. */
export function bridgeDeviceId(base: string): string {
  return DEVICE_ID_START + joinIds(slug(base), shortHash(base));
}

export function keyDeviceId(base: string, key: string): string {
  return DEVICE_ID_START + joinIds(slug(key), shortHash(`${base}\u0000${key}`));
}

export function discoveryTopic(prefix: string, deviceId: string): string {
  return `${prefix}/device/${deviceId}/config`;
}

/** How the discovery topic of every device of patternd begins. */
export function ownDiscoveryStart(prefix: string): string {
  return `${prefix}/device/${DEVICE_ID_START}`;
}

function components(
  deviceId: string,
  entityBase: string,
  specs: Record<string, ComponentSpec>,
): Record<string, Component> {
  const out: Record<string, Component> = {};
  for (const [id, spec] of Object.entries(specs)) {
    out[id] = {
      ...spec,
      unique_id: `${deviceId}_${id}`,
      // Only a suggestion for the first time HA sees the entity (the deprecated object_id's successor).
      default_entity_id: `${spec.platform}.${joinIds(entityBase, id)}`,
    };
  }
  return out;
}

interface DeviceSpec {
  id: string;
  device: { name: string; model: string; [field: string]: unknown };
  stateTopic: string;
  /** Start of the suggested entity ids, `<platform>.<entityBase>_<component>`. */
  entityBase: string;
  components: Record<string, ComponentSpec>;
}

function deviceDiscovery(prefix: string, t: Topics, spec: DeviceSpec): DeviceDiscovery {
  return {
    id: spec.id,
    topic: discoveryTopic(prefix, spec.id),
    payload: {
      device: { identifiers: [spec.id], manufacturer: MANUFACTURER, ...spec.device },
      origin: ORIGIN,
      // B/status is patternd's last will: every entity turns unavailable when patternd is gone.
      availability_topic: t.status,
      state_topic: spec.stateTopic,
      components: components(spec.id, spec.entityBase, spec.components),
    },
  };
}

const onWhen = (condition: string) => `{{ 'ON' if ${condition} else 'OFF' }}`;

/** The bridge: diagnostic sensors read from the retained `B/stats` JSON. */
export function bridgeDiscovery(prefix: string, t: Topics): DeviceDiscovery {
  const diagnostic = { entity_category: 'diagnostic' } as const;
  return deviceDiscovery(prefix, t, {
    id: bridgeDeviceId(t.base),
    device: { name: `patternd ${t.base}`, model: 'Access-pattern bridge', sw_version: VERSION },
    stateTopic: t.stats,
    entityBase: joinIds('patternd', slug(t.base)),
    components: {
      events_per_s: {
        ...diagnostic,
        platform: 'sensor',
        name: 'Events per second',
        unit_of_measurement: 'events/s',
        state_class: 'measurement',
        icon: 'mdi:speedometer',
        value_template: '{{ value_json.events_per_s }}',
      },
      keys: {
        ...diagnostic,
        platform: 'sensor',
        name: 'Keys tracked',
        state_class: 'measurement',
        icon: 'mdi:key-variant',
        value_template: '{{ value_json.keys }}',
      },
      rejected: {
        ...diagnostic,
        platform: 'sensor',
        name: 'Rejected events',
        state_class: 'total_increasing',
        icon: 'mdi:alert-circle-outline',
        // Whole messages (bad JSON, too large) and single batch items alike.
        value_template: '{{ value_json.rejected_messages + value_json.rejected_events }}',
      },
      store: {
        ...diagnostic,
        platform: 'binary_sensor',
        name: 'Store',
        device_class: 'connectivity',
        value_template: onWhen('value_json.store.up'),
      },
      version: {
        ...diagnostic,
        platform: 'sensor',
        name: 'Version',
        icon: 'mdi:information-outline',
        value_template: '{{ value_json.version }}',
      },
    },
  });
}

/** Partners named in a key's attributes, at most (512-character keys: a few KB). */
const ATTRIBUTE_PARTNERS = 5;
/** The attributes of a watched key's Pattern entity, from its state. */
const ATTRIBUTES_TEMPLATE = [
  '{{ {',
  '"patterns": value_json.patterns,',
  '"direction": value_json.sequential.direction if value_json.sequential else None,',
  '"period_s": value_json.periodic.period_s if value_json.periodic else None,',
  '"next_ts": value_json.periodic.next_ts if value_json.periodic else None,',
  '"burst": value_json.burst,',
  `"correlated_with": (value_json.correlated | map(attribute='key') | list)[:${ATTRIBUTE_PARTNERS}],`,
  '"peak_hours": value_json.schedule.peak_hours if value_json.schedule else None,',
  '"peak_days": value_json.schedule.peak_days if value_json.schedule else None,',
  '"source": value_json.source',
  '} | tojson }}',
].join(' ');

/** One device per watched key; every entity reads the key's retained `B/pattern/…` state. */
export function keyDiscovery(prefix: string, t: Topics, key: string): DeviceDiscovery {
  const stateTopic = t.pattern(key);
  return deviceDiscovery(prefix, t, {
    id: keyDeviceId(t.base, key),
    device: {
      name: key.length > DEVICE_NAME_MAX ? `${key.slice(0, DEVICE_NAME_MAX - 1)}…` : key,
      model: 'Watched key',
      via_device: bridgeDeviceId(t.base),
    },
    stateTopic,
    // Entity ids name the key when it has Latin letters or digits, else its hash (HA adds _2 on a clash).
    entityBase: joinIds('patternd', slug(key) || shortHash(key)),
    components: {
      pattern: {
        platform: 'sensor',
        name: 'Pattern',
        device_class: 'enum',
        options: [...PATTERNS],
        icon: 'mdi:chart-timeline-variant',
        value_template: '{{ value_json.pattern }}',
        // On one entity only, and only what changes with the key's patterns (and the burst's figures while
        // it lasts): HA records every change of attributes. The whole state (`updated_ts`, `accesses`, `predicted`, scores) was a record of
        // ~1.4 KB at each publish, ~120 MB a day for a key read ten times a second, and with long keys
        // in `correlated` it neared HA's 16 KB limit on attributes (an outside evaluation).
        json_attributes_topic: stateTopic,
        json_attributes_template: ATTRIBUTES_TEMPLATE,
      },
      confidence: {
        platform: 'sensor',
        name: 'Confidence',
        unit_of_measurement: '%',
        state_class: 'measurement',
        suggested_display_precision: 0,
        icon: 'mdi:gauge',
        value_template: '{{ (value_json.confidence * 100) | round(0) }}',
      },
      burst: {
        platform: 'binary_sensor',
        name: 'Burst',
        icon: 'mdi:flash',
        value_template: onWhen("'burst' in value_json.patterns"),
      },
      periodic: {
        platform: 'binary_sensor',
        name: 'Periodic',
        icon: 'mdi:calendar-sync',
        value_template: onWhen("'periodic' in value_json.patterns"),
      },
      period: {
        platform: 'sensor',
        name: 'Period',
        device_class: 'duration',
        unit_of_measurement: 's',
        state_class: 'measurement',
        // None renders as 'None', which HA takes as unknown while the key is not periodic.
        value_template: '{{ value_json.periodic.period_s if value_json.periodic else None }}',
      },
    },
  });
}
