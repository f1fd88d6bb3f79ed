/**
 * Update ids a store derives instead of storing (`EventStore.derivesUpdateIds`): an
 * event appended without a publisher id is known to Mercure subscribers as `urn:uuid:` + a
 * UUID version 8 (RFC 9562, "custom") built from the log's identity and the event's sequence
 * number:
 *
 *     urn:uuid:LLLLLLLL-LLLL-8LLL-8SSS-SSSSSSSSSSSS
 *
 * `L`: the 60-bit log id (15 hex digits, random, chosen once per log); `S`: the sequence
 * number (15 hex digits; sequence numbers stay below 2^53, so the variant nibble `8` replaces
 * a zero). Two logs give different ids for one sequence number, one log never gives one id
 * twice, and the sequence number comes back from the id without an index.
 */
const DERIVED =
  /^urn:uuid:([0-9a-f]{8})-([0-9a-f]{4})-8([0-9a-f]{3})-8([0-9a-f]{3})-([0-9a-f]{12})$/

/** A new random log id: 15 lowercase hex digits from 8 random bytes. */
export function newLogId(random: Uint8Array): string {
  let hex = ''
  for (const byte of random.subarray(0, 8)) hex += byte.toString(16).padStart(2, '0')
  return hex.slice(0, 15)
}

/** Everything of an update id of log `logId` before its sequence number. */
function prefixOf(logId: string): string {
  return `urn:uuid:${logId.slice(0, 8)}-${logId.slice(8, 12)}-8${logId.slice(12, 15)}-8`
}

function withSequence(prefix: string, seq: number): string {
  const s = seq.toString(16).padStart(15, '0')
  return `${prefix}${s.slice(0, 3)}-${s.slice(3)}`
}

/** The update id of event `seq` of log `logId` (15 hex digits). */
export function deriveUpdateId(logId: string, seq: number): string {
  return withSequence(prefixOf(logId), seq)
}

/**
 * The update ids of log `logId` (15 hex digits): `seq` -> its id, as {@link deriveUpdateId}
 * gives it, with the part every event of the log shares built once.
 */
export function updateIdsOf(logId: string): (seq: number) => string {
  const prefix = prefixOf(logId)
  return (seq) => withSequence(prefix, seq)
}

/**
 * The sequence number `id` stands for when it is an id derived for log `logId`, else
 * `undefined` (another log's, or a publisher's own).
 */
export function parseUpdateId(logId: string, id: string): number | undefined {
  const m = DERIVED.exec(id)
  if (m === null || `${m[1]}${m[2]}${m[3]}` !== logId) return undefined
  const seq = Number.parseInt(`${m[4]}${m[5]}`, 16)
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined
}
