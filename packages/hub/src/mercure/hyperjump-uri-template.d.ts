/** Types for the parts of `@hyperjump/uri-template` the hub uses (the package ships none). */
declare module '@hyperjump/uri-template' {
  /** One variable of an expression. */
  export interface TemplateVariable {
    name: string
    explode: boolean
    /** The `:N` prefix modifier, as written. */
    maxLength?: string
  }
  /** A literal run, or an expression with its operator (`''` for simple expansion). */
  export type TemplatePart =
    | { type: 'literal'; value: string }
    | { type: '' | '+' | '#' | '.' | '/' | ';' | '?' | '&'; variables: TemplateVariable[] }
  /** Parses a URI Template (RFC 6570, level 4); throws on a malformed one. */
  export function parse(template: string): TemplatePart[]
}
