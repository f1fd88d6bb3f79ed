/** Types for the parts of the `mercure` npm package (Node publisher) the tests use. */
declare module 'mercure' {
  export interface PublisherConfig {
    protocol?: 'http' | 'https'
    host: string
    port?: number
    path?: string
    jwt: string
  }
  export class Publisher {
    constructor(config: PublisherConfig)
    /** POSTs a form-encoded update; resolves to the hub's answer (the update id). */
    publish(
      topics: string[],
      data: string,
      options?: { id?: string; type?: string; retry?: number },
    ): Promise<unknown>
  }
}
