/**
 * Per-topic data schemas: any Standard Schema validator (zod, valibot, arktype, ...) checks
 * the data of events published to matching topics, before anything is stored.
 */
import { HeraldError } from '@herald/protocol'
import type { AppendInput, TopicMatcher } from '@herald/store'
import { createTopicMatcher } from '@herald/store'

/** The Standard Schema interface (https://standardschema.dev), the part the hub uses. */
export interface StandardSchemaV1 {
  /** Standard Schema properties. */
  readonly '~standard': {
    /** Always 1. */
    readonly version: 1
    /** The validator library. */
    readonly vendor: string
    /** Validates a value. */
    readonly validate: (value: unknown) => StandardResult | Promise<StandardResult>
  }
}

/** The result of a Standard Schema validation. */
export type StandardResult =
  | { readonly value: unknown; readonly issues?: undefined }
  | {
      readonly issues: ReadonlyArray<{
        readonly message: string
        readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined
      }>
    }

/** A schema for the data of the topics matching `pattern`. */
export interface TopicSchema {
  /** Topic pattern (`orders/*`). */
  pattern: string
  /** Validator of the event data (the parsed JSON value; a string when the data is not JSON). */
  schema: StandardSchemaV1
}

/** Checks events against their topic's schemas. */
export type SchemaCheck = (events: readonly AppendInput[]) => Promise<void>

function describe(
  issues: Extract<StandardResult, { issues: ReadonlyArray<unknown> }>['issues'],
): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = (issue.path ?? [])
        .map((segment) => String(typeof segment === 'object' ? segment.key : segment))
        .join('.')
      return path === '' ? issue.message : `data.${path}: ${issue.message}`
    })
    .join('; ')
}

/**
 * Compiles `schemas` into a check. Data is validated as its parsed JSON value when it parses
 * (so `{"data": {"a": 1}}` and `{"data": "{\\"a\\":1}"}` are checked alike), else as the
 * string. Every schema whose pattern matches the topic must pass.
 *
 * @throws {HeraldError} `HERALD_INVALID_CONFIG` for a bad pattern or a non-schema.
 */
export function createSchemaCheck(schemas: readonly TopicSchema[]): SchemaCheck {
  const compiled: { matcher: TopicMatcher; schema: StandardSchemaV1 }[] = schemas.map(
    (entry, i) => {
      if (typeof entry?.schema?.['~standard']?.validate !== 'function') {
        throw new HeraldError(
          'HERALD_INVALID_CONFIG',
          `schemas[${i}].schema is not a Standard Schema validator`,
        )
      }
      try {
        return { matcher: createTopicMatcher([entry.pattern]), schema: entry.schema }
      } catch (error) {
        throw new HeraldError(
          'HERALD_INVALID_CONFIG',
          `schemas[${i}].pattern: ${(error as Error).message}`,
        )
      }
    },
  )
  return async (events) => {
    if (compiled.length === 0) return
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as AppendInput
      let value: unknown
      let parsed = false
      for (const { matcher, schema } of compiled) {
        if (!matcher.matches(event.topic)) continue
        if (!parsed) {
          parsed = true
          try {
            value = JSON.parse(event.data)
          } catch {
            value = event.data
          }
        }
        const result = await schema['~standard'].validate(value)
        if (result.issues !== undefined) {
          const where = events.length > 1 ? `events[${i}]: ` : ''
          throw new HeraldError(
            'HERALD_PUBLISH_SCHEMA',
            `${where}data for ${JSON.stringify(event.topic)} does not match its schema: ${describe(result.issues)}`,
            { status: 400 },
          )
        }
      }
    }
  }
}
