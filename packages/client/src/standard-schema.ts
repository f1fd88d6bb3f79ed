/**
 * The Standard Schema v1 interface (https://standardschema.dev), declared here so that
 * any conforming validator (zod, valibot, arktype, ...) works without being a dependency.
 */

/** A validator that implements Standard Schema v1. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly '~standard': StandardSchemaV1.Props<Input, Output>
}

/** Types of the Standard Schema v1 interface. */
export declare namespace StandardSchemaV1 {
  /** The Standard Schema properties of a validator. */
  export interface Props<Input = unknown, Output = Input> {
    /** Always 1. */
    readonly version: 1
    /** The library that made the validator. */
    readonly vendor: string
    /** Validates a value. */
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>
    /** Inferred types, for type-level use only. */
    readonly types?: Types<Input, Output> | undefined
  }

  /** The result of `validate`. */
  export type Result<Output> = SuccessResult<Output> | FailureResult

  /** A successful validation. */
  export interface SuccessResult<Output> {
    /** The validated (possibly transformed) value. */
    readonly value: Output
    /** Absent on success. */
    readonly issues?: undefined
  }

  /** A failed validation. */
  export interface FailureResult {
    /** What is wrong. */
    readonly issues: ReadonlyArray<Issue>
  }

  /** One validation issue. */
  export interface Issue {
    /** Human-readable description. */
    readonly message: string
    /** Where in the value, if known. */
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined
  }

  /** A path segment with a key. */
  export interface PathSegment {
    /** The key. */
    readonly key: PropertyKey
  }

  /** Input and output types. */
  export interface Types<Input = unknown, Output = Input> {
    /** The input type. */
    readonly input: Input
    /** The output type. */
    readonly output: Output
  }

  /** The output type of a validator. */
  export type InferOutput<Schema extends StandardSchemaV1> = NonNullable<
    Schema['~standard']['types']
  >['output']
}
