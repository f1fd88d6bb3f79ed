/**
 * JSON Schema compatibility: which changes between two versions of a topic's schema break
 * readers or writers. Modelled on Confluent Schema Registry's JSON Schema rules (open,
 * closed and partially open content models): a change is breaking when the READER's schema
 * rejects a value the WRITER's accepts. `backward` reads old data with the new schema
 * (reader = new, writer = old); `forward` reads new data with the old schema; `full` is both.
 *
 * Covered (anything else that differs is reported as `unsupported-change`, never let
 * through): `type` (with `integer` inside `number`), `enum`, `const`, `required`,
 * `properties`, `additionalProperties` (false, true or a schema), `items` (one schema),
 * numeric, string, array and object bounds, `multipleOf`, `pattern`, `format`,
 * `uniqueItems`, boolean schemas. Annotations (`title`, `description`, `examples`,
 * `default`, `$comment`, `deprecated`, `readOnly`, `writeOnly`, `$id`, `$schema`) never break.
 */
import type { SchemaCompatibility } from '@herald/store'

/** What kind of breaking change, named from the old version to the new one. */
export type SchemaChangeKind =
  | 'type-narrowed'
  | 'type-widened'
  | 'enum-value-removed'
  | 'enum-value-added'
  | 'enum-added'
  | 'enum-removed'
  | 'const-changed'
  | 'required-field-added'
  | 'required-field-removed'
  | 'field-removed'
  | 'field-added'
  | 'additional-properties-closed'
  | 'additional-properties-opened'
  | 'range-narrowed'
  | 'range-widened'
  | 'pattern-changed'
  | 'format-changed'
  | 'multiple-of-changed'
  | 'unique-items-changed'
  | 'unsupported-change'

/** One breaking change. */
export interface SchemaChange {
  /** What changed. */
  readonly kind: SchemaChangeKind
  /** Where, as a JSON pointer into the schema (`/properties/total`; `` for the root). */
  readonly path: string
  /** Which compatibility it breaks: `backward` (new readers, old data) or `forward`. */
  readonly breaks: 'backward' | 'forward'
  /** A sentence for people. */
  readonly message: string
}

type Schema = boolean | Record<string, unknown>

const ANNOTATIONS = new Set([
  'title',
  'description',
  'examples',
  'default',
  '$comment',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$id',
  '$schema',
])
const HANDLED = new Set([
  'type',
  'enum',
  'const',
  'required',
  'properties',
  'additionalProperties',
  'items',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'multipleOf',
  'pattern',
  'format',
  'uniqueItems',
])
const LOWER_BOUNDS = ['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties']
const UPPER_BOUNDS = ['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties']

/** A stable text for a JSON value (keys sorted), for equality. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
    return `{${entries.join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

function pointer(path: string, ...segments: string[]): string {
  let out = path
  for (const s of segments) out += `/${s.replace(/~/g, '~0').replace(/\//g, '~1')}`
  return out
}

function asObject(schema: Schema): Record<string, unknown> | undefined {
  return typeof schema === 'object' ? schema : undefined
}

/** `true` for a schema that accepts every value (`true`, `{}`, or annotations only). */
function acceptsAll(schema: Schema): boolean {
  if (schema === true) return true
  if (schema === false) return false
  return Object.keys(schema).every((k) => ANNOTATIONS.has(k))
}

function typesOf(schema: Record<string, unknown>): Set<string> | undefined {
  const t = schema.type
  if (typeof t === 'string') return new Set([t])
  if (Array.isArray(t)) return new Set(t.filter((x): x is string => typeof x === 'string'))
  return undefined
}

/** The names a change gets in each direction: [backward name, forward name]. */
const NAMES: Record<string, [SchemaChangeKind, SchemaChangeKind]> = {
  type: ['type-narrowed', 'type-widened'],
  enumValue: ['enum-value-removed', 'enum-value-added'],
  enum: ['enum-added', 'enum-removed'],
  const: ['const-changed', 'const-changed'],
  required: ['required-field-added', 'required-field-removed'],
  closedMissing: ['field-removed', 'field-added'],
  openAdded: ['field-added', 'field-removed'],
  closed: ['additional-properties-closed', 'additional-properties-opened'],
  range: ['range-narrowed', 'range-widened'],
  pattern: ['pattern-changed', 'pattern-changed'],
  format: ['format-changed', 'format-changed'],
  multipleOf: ['multiple-of-changed', 'multiple-of-changed'],
  uniqueItems: ['unique-items-changed', 'unique-items-changed'],
  unsupported: ['unsupported-change', 'unsupported-change'],
}

/**
 * Lists where `reader` rejects values that `writer` accepts, named for `direction`.
 * `backward`: reader = new version, writer = old. `forward`: reader = old, writer = new.
 */
function narrowings(
  reader: Schema,
  writer: Schema,
  path: string,
  direction: 'backward' | 'forward',
  out: SchemaChange[],
): void {
  const report = (what: string, at: string, message: string): void => {
    const names = NAMES[what] as [SchemaChangeKind, SchemaChangeKind]
    out.push({
      kind: names[direction === 'backward' ? 0 : 1],
      path: at,
      breaks: direction,
      message,
    })
  }
  const subject = direction === 'backward' ? 'the new version' : 'the old version'
  const other = direction === 'backward' ? 'the old version' : 'the new version'
  if (writer === false || acceptsAll(reader)) return
  if (reader === false) {
    report('type', path, `${subject} accepts nothing at ${path || '/'}`)
    return
  }
  const r = asObject(reader) as Record<string, unknown>
  const w = asObject(writer) ?? {}

  // Keywords this checker does not reason about: any difference is reported, not guessed.
  const keys = new Set([...Object.keys(r), ...Object.keys(w)])
  for (const key of keys) {
    if (ANNOTATIONS.has(key) || HANDLED.has(key)) continue
    if (canonicalJson(r[key]) !== canonicalJson(w[key])) {
      report(
        'unsupported',
        pointer(path, key),
        `"${key}" differs between the versions; Herald cannot prove the change safe`,
      )
    }
  }

  const rTypes = typesOf(r)
  const wTypes = typesOf(w)
  if (rTypes !== undefined) {
    const accepted = (t: string) => rTypes.has(t) || (t === 'integer' && rTypes.has('number'))
    if (wTypes === undefined) {
      report(
        'type',
        pointer(path, 'type'),
        `${subject} only accepts type ${[...rTypes].join('|')}; ${other} accepts any type`,
      )
    } else {
      for (const t of wTypes) {
        if (!accepted(t)) {
          report(
            'type',
            pointer(path, 'type'),
            `type ${t} is accepted by ${other} but not by ${subject}`,
          )
        }
      }
    }
  }

  if (r.const !== undefined) {
    const wValues = w.const !== undefined ? [w.const] : Array.isArray(w.enum) ? w.enum : undefined
    const want = canonicalJson(r.const)
    if (wValues === undefined || wValues.some((v) => canonicalJson(v) !== want)) {
      report('const', pointer(path, 'const'), `${subject} only accepts ${want}`)
    }
  }
  if (Array.isArray(r.enum)) {
    const allowed = new Set(r.enum.map(canonicalJson))
    const wValues = w.const !== undefined ? [w.const] : Array.isArray(w.enum) ? w.enum : undefined
    if (wValues === undefined) {
      report(
        'enum',
        pointer(path, 'enum'),
        `${subject} restricts the value to an enum; ${other} does not`,
      )
    } else {
      for (const v of wValues) {
        const text = canonicalJson(v)
        if (!allowed.has(text)) {
          report(
            'enumValue',
            pointer(path, 'enum'),
            `enum value ${text} is accepted by ${other} but not by ${subject}`,
          )
        }
      }
    }
  }

  for (const key of LOWER_BOUNDS) {
    const rv = r[key]
    const wv = w[key]
    if (typeof rv !== 'number') continue
    if (typeof wv !== 'number' || wv < rv) {
      report(
        'range',
        pointer(path, key),
        `${key} is ${rv} in ${subject}, ${typeof wv === 'number' ? wv : 'unset'} in ${other}`,
      )
    }
  }
  for (const key of UPPER_BOUNDS) {
    const rv = r[key]
    const wv = w[key]
    if (typeof rv !== 'number') continue
    if (typeof wv !== 'number' || wv > rv) {
      report(
        'range',
        pointer(path, key),
        `${key} is ${rv} in ${subject}, ${typeof wv === 'number' ? wv : 'unset'} in ${other}`,
      )
    }
  }
  if (r.multipleOf !== undefined) {
    const rm = r.multipleOf as number
    const wm = w.multipleOf
    if (typeof wm !== 'number' || !Number.isInteger(wm / rm)) {
      report(
        'multipleOf',
        pointer(path, 'multipleOf'),
        `multipleOf ${rm} in ${subject} does not hold for ${other}`,
      )
    }
  }
  for (const key of ['pattern', 'format'] as const) {
    if (r[key] !== undefined && r[key] !== w[key]) {
      report(
        key,
        pointer(path, key),
        `${key} ${JSON.stringify(r[key])} in ${subject}, ${w[key] === undefined ? 'none' : JSON.stringify(w[key])} in ${other}`,
      )
    }
  }
  if (r.uniqueItems === true && w.uniqueItems !== true) {
    report(
      'uniqueItems',
      pointer(path, 'uniqueItems'),
      `${subject} requires unique items; ${other} does not`,
    )
  }

  // Objects.
  const rRequired = Array.isArray(r.required) ? (r.required as string[]) : []
  const wRequired = new Set(Array.isArray(w.required) ? (w.required as string[]) : [])
  for (const name of rRequired) {
    if (!wRequired.has(name)) {
      report(
        'required',
        pointer(path, 'required'),
        `field ${JSON.stringify(name)} is required by ${subject} but not by ${other}`,
      )
    }
  }
  const rProps = (asObject((r.properties ?? {}) as Schema) ?? {}) as Record<string, Schema>
  const wProps = (asObject((w.properties ?? {}) as Schema) ?? {}) as Record<string, Schema>
  const rExtra = (r.additionalProperties ?? true) as Schema
  const wExtra = (w.additionalProperties ?? true) as Schema
  for (const [name, wProp] of Object.entries(wProps)) {
    const rProp = rProps[name]
    if (rProp !== undefined) {
      narrowings(rProp, wProp, pointer(path, 'properties', name), direction, out)
    } else if (rExtra === false) {
      report(
        'closedMissing',
        pointer(path, 'properties', name),
        `field ${JSON.stringify(name)} is in ${other} but not in ${subject}, which allows no other fields`,
      )
    } else {
      narrowings(rExtra, wProp, pointer(path, 'properties', name), direction, out)
    }
  }
  for (const [name, rProp] of Object.entries(rProps)) {
    if (name in wProps) continue
    // The writer says nothing of this field: it may hold whatever its extra fields may.
    const before = out.length
    narrowings(rProp, wExtra, pointer(path, 'properties', name), direction, out)
    if (out.length > before && acceptsAll(wExtra)) {
      out.splice(before)
      report(
        'openAdded',
        pointer(path, 'properties', name),
        `field ${JSON.stringify(name)} is constrained by ${subject} but not named by ${other}, whose open content model lets it hold any value (close it with "additionalProperties": false)`,
      )
    }
  }
  if (rExtra === false && wExtra !== false) {
    report(
      'closed',
      pointer(path, 'additionalProperties'),
      `${subject} allows no fields beyond its properties; ${other} does`,
    )
  } else if (typeof rExtra === 'object' && !acceptsAll(rExtra)) {
    narrowings(rExtra, wExtra, pointer(path, 'additionalProperties'), direction, out)
  }

  // Arrays (one schema for every item).
  if (r.items !== undefined || w.items !== undefined) {
    const ri = (r.items ?? true) as Schema
    const wi = (w.items ?? true) as Schema
    if (Array.isArray(ri) || Array.isArray(wi)) {
      if (canonicalJson(ri) !== canonicalJson(wi)) {
        report(
          'unsupported',
          pointer(path, 'items'),
          `tuple "items" differ; Herald cannot prove the change safe`,
        )
      }
    } else {
      narrowings(ri, wi, pointer(path, 'items'), direction, out)
    }
  }
}

/**
 * The changes from `previous` to `next` that break `compatibility` (`none`: none do).
 * Both are JSON Schemas (objects or booleans) already known to be valid.
 */
export function findBreakingChanges(
  previous: unknown,
  next: unknown,
  compatibility: SchemaCompatibility,
): SchemaChange[] {
  const out: SchemaChange[] = []
  if (compatibility === 'none') return out
  if (compatibility === 'backward' || compatibility === 'full') {
    narrowings(next as Schema, previous as Schema, '', 'backward', out)
  }
  if (compatibility === 'forward' || compatibility === 'full') {
    narrowings(previous as Schema, next as Schema, '', 'forward', out)
  }
  return out
}
