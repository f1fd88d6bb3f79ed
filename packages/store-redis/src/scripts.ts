/**
 * The Lua scripts that make every change to the log atomic. Redis runs a script alone, so an
 * append assigns the next hub-wide sequence number, writes the event, its index entries and
 * retention in one step, and a read sees one consistent snapshot of bounds and entries.
 *
 * Keys (P is the store's prefix, `herald:v1:{namespace}:`; the hash tag keeps every key of one
 * hub in one cluster slot):
 * - `P meta` hash: `epoch` (random id of this incarnation of the log), `base` (its first
 *   sequence number), `seq` (the newest issued), `pruned` (newest deleted by the hub-wide
 *   bounds), `time` (newest `publishedAt`, so it never steps back), `bytes` (log size).
 * - `P log` stream: one entry per event, id `<seq>-0`.
 * - `P i:<topic>` streams: the ids of the events of one topic (canonical or alternate), so a
 *   replay of a rare topic reads its own entries, never the whole log.
 * - `P topics` sorted set (score 0): the topics with an index, for resolving patterns by prefix.
 * - `P r:<pattern>` streams: the ids under one per-topic retention rule.
 * - `P tpruned` hash: topic -> newest sequence deleted by a per-topic rule.
 * - `P ids` hash: publisher id (`clientId`) -> the entry id of the retained event that has it
 *   (Mercure update ids resolve through it; an entry deleted by retention drops its id). An
 *   event appended without one has no entry here: its update id is derived from the epoch and
 *   its sequence number (`derivesUpdateIds`), so nothing is stored for it.
 * - channel `P wake`: an append publishes `<newest sequence> <node>` (the appending node's id),
 *   to wake the tails of the other nodes (a node wakes its own when the append answers).
 *
 * Every write a script makes happens after its checks, so a script that fails writes nothing:
 * a batch is all or none.
 */

/** Functions shared by the scripts: topic matching, entry deletion, retention. */
const PRELUDE = `
local P = ARGV[1]
local META, LOG, TOPICS, TPRUNED = P .. 'meta', P .. 'log', P .. 'topics', P .. 'tpruned'
local IDS = P .. 'ids'

-- The entry id of the retained event whose publisher id is cid, or nil.
local function live_id(cid)
  local id = redis.call('HGET', IDS, cid)
  if not id then return nil end
  if #redis.call('XRANGE', LOG, id, id) == 0 then return nil end
  return id
end

-- A deleted event's publisher id no longer resolves.
local function forget_id(f, id)
  if f.c and redis.call('HGET', IDS, f.c) == id then redis.call('HDEL', IDS, f.c) end
end

local function split(s)
  local out, start = {}, 1
  while true do
    local i = string.find(s, '/', start, true)
    if not i then out[#out + 1] = string.sub(s, start); return out end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end

-- The hub's topic patterns: '*' one segment, a final '**' one or more.
local function matches(pattern, topic)
  if pattern == topic then return true end
  if not string.find(pattern, '*', 1, true) then return false end
  local p, t = split(pattern), split(topic)
  for i = 1, #p do
    if p[i] == '**' then return #t >= i end
    if i > #t then return false end
    if p[i] ~= '*' and p[i] ~= t[i] then return false end
  end
  return #t == #p
end

local function fields(raw)
  local f = {}
  for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
  return f
end

-- Alternates are stored joined by newlines (a topic cannot hold one).
local function split_lines(s)
  local out, start = {}, 1
  while true do
    local i = string.find(s, '\\n', start, true)
    if not i then out[#out + 1] = string.sub(s, start); return out end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end

local function all_topics(f)
  local out = { f.t }
  if f.x then for _, alt in ipairs(split_lines(f.x)) do out[#out + 1] = alt end end
  return out
end

local function size_of(f)
  return 64 + #f.d + #f.t + #(f.x or '') + #(f.e or '') + #(f.c or '')
end

local function seq_of(id)
  return tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
end

local function num(s)
  return string.format('%.0f', s)
end

-- Retention rules as ARGV gives them: pattern, maxEvents, maxAgeMs (-1: unbounded).
local function read_rules(at)
  local n = tonumber(ARGV[at])
  local rules = {}
  for i = 1, n do
    local j = at + (i - 1) * 3
    rules[i] = { pattern = ARGV[j + 1], max = tonumber(ARGV[j + 2]), age = tonumber(ARGV[j + 3]) }
  end
  return rules, at + n * 3 + 1
end

local function rule_matches(rule, tops)
  for _, t in ipairs(tops) do if matches(rule.pattern, t) then return true end end
  return false
end

-- Removes one event's index entries (and the rules' entries when asked).
local function unindex(id, tops, rules)
  for _, t in ipairs(tops) do
    local key = P .. 'i:' .. t
    redis.call('XDEL', key, id)
    if redis.call('XLEN', key) == 0 then
      redis.call('DEL', key)
      redis.call('ZREM', TOPICS, t)
    end
  end
  if rules then
    for _, rule in ipairs(rules) do
      if rule_matches(rule, tops) then redis.call('XDEL', P .. 'r:' .. rule.pattern, id) end
    end
  end
end

-- Deletes entries from the head of the log while keep(entry fields) is false.
-- Returns the bytes freed and the newest sequence deleted (0 when none).
local function drop_head(should_drop, rules)
  local freed, through, chunk = 0, 0, 1
  while true do
    -- Usually nothing or little is due: look at the head first, then in chunks.
    local head = redis.call('XRANGE', LOG, '-', '+', 'COUNT', chunk)
    chunk = 100
    if #head == 0 then break end
    local stop = false
    for _, entry in ipairs(head) do
      local f = fields(entry[2])
      if not should_drop(f, freed) then stop = true; break end
      local tops = all_topics(f)
      unindex(entry[1], tops, nil)
      forget_id(f, entry[1])
      redis.call('XDEL', LOG, entry[1])
      freed = freed + size_of(f)
      through = seq_of(entry[1])
    end
    if stop then break end
  end
  if through > 0 then
    -- The rules' streams only lose their own head: trim them past the deleted prefix.
    for _, rule in ipairs(rules) do
      redis.call('XTRIM', P .. 'r:' .. rule.pattern, 'MINID', num(through + 1) .. '-0')
    end
  end
  return freed, through
end

-- Applies retention: hub-wide count, bytes and age, then each per-topic rule. Returns the
-- newest sequence it deleted (0 when none).
local function prune(now, max_events, max_age, max_bytes, rules)
  local bytes = tonumber(redis.call('HGET', META, 'bytes') or '0')
  local len = redis.call('XLEN', LOG)
  local excess = max_events >= 0 and len - max_events or 0
  local cutoff = max_age >= 0 and now - max_age or nil
  local freed, through = 0, 0
  if excess > 0 or (max_bytes >= 0 and bytes > max_bytes) or cutoff then
    local count = 0
    freed, through = drop_head(function(f, freed_so_far)
      count = count + 1
      if count <= excess then return true end
      if max_bytes >= 0 and bytes - freed_so_far > max_bytes then return true end
      if cutoff and tonumber(f.a) < cutoff then return true end
      return false
    end, rules)
  end
  bytes = bytes - freed
  if through > 0 then
    local pruned = tonumber(redis.call('HGET', META, 'pruned') or '0')
    if through > pruned then redis.call('HSET', META, 'pruned', num(through)) end
  end
  for _, rule in ipairs(rules) do
    local key = P .. 'r:' .. rule.pattern
    local rexcess = rule.max >= 0 and redis.call('XLEN', key) - rule.max or 0
    local rcutoff = rule.age >= 0 and now - rule.age or nil
    local chunk = 1
    while rexcess > 0 or rcutoff do
      local head = redis.call('XRANGE', key, '-', '+', 'COUNT', rexcess > 0 and math.min(rexcess, 100) or chunk)
      chunk = 100
      if #head == 0 then break end
      local stop = false
      for _, entry in ipairs(head) do
        local old = rcutoff and tonumber(entry[2][2]) < rcutoff
        if rexcess <= 0 and not old then stop = true; break end
        local id = entry[1]
        local found = redis.call('XRANGE', LOG, id, id)
        if #found == 1 then
          local f = fields(found[1][2])
          local tops = all_topics(f)
          unindex(id, tops, rules)
          forget_id(f, id)
          redis.call('XDEL', LOG, id)
          bytes = bytes - size_of(f)
          local seq = seq_of(id)
          if seq > through then through = seq end
          for _, t in ipairs(tops) do
            local prev = tonumber(redis.call('HGET', TPRUNED, t) or '0')
            if seq > prev then redis.call('HSET', TPRUNED, t, num(seq)) end
          end
        else
          redis.call('XDEL', key, id)
        end
        rexcess = rexcess - 1
      end
      if stop then break end
    end
  end
  redis.call('HSET', META, 'bytes', num(bytes))
  return through
end

-- The update id prefix of log incarnation epoch (see @herald/store update-id.ts): an event
-- appended without a publisher id is known by urn:uuid:LLLLLLLL-LLLL-8LLL-8SSS-SSSSSSSSSSSS,
-- L the first 15 hex digits of the epoch, S the sequence number in 15 hex digits.
local function derived_prefix(epoch)
  local hex = string.gsub(epoch, '-', '')
  return 'urn:uuid:' .. string.sub(hex, 1, 8) .. '-' .. string.sub(hex, 9, 12) .. '-8' .. string.sub(hex, 13, 15) .. '-8'
end

-- The sequence number cid stands for when it has this log's derived form, else nil.
local function derived_seq(prefix, cid)
  if #cid ~= #prefix + 16 or string.sub(cid, 1, #prefix) ~= prefix then return nil end
  local s = string.sub(cid, #prefix + 1)
  if string.sub(s, 4, 4) ~= '-' then return nil end
  local hex = string.sub(s, 1, 3) .. string.sub(s, 5)
  if not string.match(hex, '^[0-9a-f]+$') then return nil end
  return tonumber(hex, 16)
end

local function oldest_seq()
  local head = redis.call('XRANGE', LOG, '-', '+', 'COUNT', 1)
  if #head == 0 then return -1 end
  return seq_of(head[1][1])
end
`

/**
 * Append of every batch one node received in one event-loop turn. ARGV: prefix, expected epoch
 * ('' when this node knows none), epoch to create, floor (a sequence number the node has seen,
 * so a log that came back empty restarts above it), now, node (the id the wake announcement
 * carries, so the node can tell its own from the others'), maxEvents, maxAgeMs, maxBytes, rules
 * (count, then pattern/max/age triples), then the batches as ONE JSON argument (one argument
 * rather than 8 per event: the client writes each argument separately, and that write was the
 * node's largest cost per publish): an array of batches, each the schema revision its events
 * were validated against ('' when unchecked, else digits) followed by its events, each
 * `[topic, alternates (newline-joined), data, type, clientId, retry, private, schema
 * version]`, all strings: type and clientId '' when absent, else '=' + value (a clientId the
 * hub generated is '+' + value and is not checked), retry '' or digits, private '1' or '',
 * schema version '' or digits (stored as field `s`).
 *
 * Batches are independent: one validated against another schema revision than the current
 * one (the length of `P schemas`: see schema-registry.ts) writes nothing and answers
 * { 'schema', revision }; one whose publisher ids repeat a retained event's (or each other's)
 * writes nothing and answers { publisher id }; the others are written, each contiguous.
 * Returns { epoch, publishedAt, epoch changed (0/1), newest sequence retention deleted in this
 * call ('0' when none), schema revision, then per batch its first sequence, or the refusal as
 * an array }.
 */
export const APPEND_SCRIPT = `${PRELUDE}
local expected, fresh, floor, now, node = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local max_events, max_age, max_bytes = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local rules, at = read_rules(10)
local batches = cjson.decode(ARGV[at])
local meta = redis.call('HMGET', META, 'epoch', 'seq', 'time')
local epoch, seq, time = meta[1], tonumber(meta[2] or '0'), tonumber(meta[3] or '0')
if not epoch then
  -- A new log, or one that came back empty: start above every id issued before, by this
  -- log's earlier life (the clock: ids start at now * 1000) or as far as this node saw.
  epoch = fresh
  local base = math.max(now * 1000, floor + 1)
  local tail = redis.call('XREVRANGE', LOG, '+', '-', 'COUNT', 1)
  if #tail == 1 then base = math.max(base, seq_of(tail[1][1]) + 1) end
  seq = base - 1
  redis.call('HSET', META, 'epoch', epoch, 'base', num(base), 'seq', num(seq), 'pruned', '0', 'bytes', '0', 'time', '0')
else
  -- Never below the newest entry, should meta have been damaged by hand.
  local tail = redis.call('XREVRANGE', LOG, '+', '-', 'COUNT', 1)
  if #tail == 1 then seq = math.max(seq, seq_of(tail[1][1])) end
end
local t = math.max(now, time)
local bytes = tonumber(redis.call('HGET', META, 'bytes') or '0')
local revision = redis.call('HLEN', P .. 'schemas')
-- Built once per call: the time field of every event, and the topics already in TOPICS.
local at_t = num(t)
local listed = {}
local out = { epoch, num(t), expected ~= '' and expected ~= epoch and 1 or 0, 0, revision }
local derived = derived_prefix(epoch)
for g = 1, #batches do
  local batch = batches[g]
  local validated = batch[1]
  if validated ~= '' and tonumber(validated) ~= revision then
    -- Validated against other schemas than the current ones: the hub validates again.
    out[#out + 1] = { 'schema', revision }
  else
    -- Publisher ids are unique among retained events: a repeat refuses its whole batch.
    local repeated, mine = nil, {}
    for i = 2, #batch do
      local cid = batch[i][5]
      -- '+': generated by the hub (a random urn:uuid), nothing to check.
      if cid ~= '' and string.sub(cid, 1, 1) == '=' then
        cid = string.sub(cid, 2)
        -- The form of the ids this log derives is refused too: one of them, now or later.
        if mine[cid] or live_id(cid) or derived_seq(derived, cid) then repeated = cid; break end
        mine[cid] = true
      end
    end
    if repeated then
      out[#out + 1] = { repeated }
    else
      out[#out + 1] = num(seq + 1)
      for i = 2, #batch do
        local e = batch[i]
        local topic, alts, data, type, cid, retry, priv, sv = e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8]
        seq = seq + 1
        local id = num(seq) .. '-0'
        local f = { 't', topic, 'd', data, 'a', at_t }
        if alts ~= '' then f[#f + 1] = 'x'; f[#f + 1] = alts end
        if type ~= '' then f[#f + 1] = 'e'; f[#f + 1] = string.sub(type, 2) end
        if cid ~= '' then
          f[#f + 1] = 'c'; f[#f + 1] = string.sub(cid, 2)
          redis.call('HSET', IDS, string.sub(cid, 2), id)
        end
        if retry ~= '' then f[#f + 1] = 'r'; f[#f + 1] = retry end
        if priv ~= '' then f[#f + 1] = 'p'; f[#f + 1] = '1' end
        if sv ~= '' then f[#f + 1] = 's'; f[#f + 1] = sv end
        redis.call('XADD', LOG, id, unpack(f))
        local tops = { topic }
        if alts ~= '' then for _, alt in ipairs(split_lines(alts)) do tops[#tops + 1] = alt end end
        for _, tp in ipairs(tops) do
          redis.call('XADD', P .. 'i:' .. tp, id, 'a', at_t)
          if not listed[tp] then
            redis.call('ZADD', TOPICS, 0, tp)
            listed[tp] = true
          end
        end
        for _, rule in ipairs(rules) do
          if rule_matches(rule, tops) then redis.call('XADD', P .. 'r:' .. rule.pattern, id, 'a', at_t) end
        end
        bytes = bytes + 64 + #data + #topic + #alts + math.max(#type - 1, 0) + math.max(#cid - 1, 0)
      end
    end
  end
end
redis.call('HSET', META, 'seq', num(seq), 'time', num(t), 'bytes', num(bytes))
out[4] = num(prune(now, max_events, max_age, max_bytes, rules))
redis.call('PUBLISH', P .. 'wake', num(seq) .. ' ' .. node)
return out
`

/**
 * Publisher id lookup. ARGV: prefix, now, maxEvents, maxAgeMs, maxBytes, rules, publisher id
 * (one the publisher gave, or one this log derived). Retention due by now is applied first, so
 * an id resolves exactly while its event is retained. Returns the entry id, or nil.
 */
export const FIND_SCRIPT = `${PRELUDE}
local now, max_events, max_age, max_bytes = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local rules, at = read_rules(6)
local epoch = redis.call('HGET', META, 'epoch')
if not epoch then return nil end
prune(now, max_events, max_age, max_bytes, rules)
local cid = ARGV[at]
local seq = derived_seq(derived_prefix(epoch), cid)
if seq then
  -- A derived id: the event of that sequence number, unless it has a publisher id of its own.
  local id = num(seq) .. '-0'
  local found = redis.call('XRANGE', LOG, id, id)
  if #found == 0 or fields(found[1][2]).c then return nil end
  return id
end
return live_id(cid)
`

/**
 * Read. ARGV: prefix, now, maxEvents, maxAgeMs, maxBytes, rules, then: cursor (-1 for none,
 * -2 for one that does not parse), limit, scan budget, index limit, mode ('all', 'topics'),
 * pattern count and patterns, exact count and exact topics, prefix count and lexicographic
 * prefixes (ZRANGEBYLEX ranges that hold every topic a pattern may match).
 *
 * Returns { 'reset', reason, oldest, latest, epoch } or
 * { 'events', cursor, more (0/1), epoch, latest, entries... } with entries as XRANGE gives.
 * `cursor`: the position reached ('' when none); `latest`: newest issued ('' when none).
 */
export const READ_SCRIPT = `${PRELUDE}
local now, max_events, max_age, max_bytes = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local rules, at = read_rules(6)
local cursor, limit, budget, index_limit = tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
local mode = ARGV[at + 4]
at = at + 5
local patterns, exact, prefixes = {}, {}, {}
for i = 1, tonumber(ARGV[at]) do patterns[i] = ARGV[at + i] end
at = at + #patterns + 1
for i = 1, tonumber(ARGV[at]) do exact[i] = ARGV[at + i] end
at = at + #exact + 1
for i = 1, tonumber(ARGV[at]) do prefixes[i] = ARGV[at + i] end

local meta = redis.call('HMGET', META, 'epoch', 'base', 'seq', 'pruned')
if meta[1] then prune(now, max_events, max_age, max_bytes, rules) end
local epoch = meta[1] or ''
local base, seq, pruned = tonumber(meta[2] or '0'), tonumber(meta[3] or '0'), tonumber(meta[4] or '0')
local issued = meta[1] and seq >= base
pruned = tonumber(redis.call('HGET', META, 'pruned') or '0')
local latest = issued and num(seq) or ''
local function reset(reason)
  local oldest = oldest_seq()
  return { 'reset', reason, oldest >= 0 and num(oldest) or '', latest, epoch }
end

local function wanted(topic)
  for _, t in ipairs(exact) do if t == topic then return true end end
  for _, p in ipairs(patterns) do if matches(p, topic) then return true end end
  return false
end

if mode == 'bounds' then
  local oldest = oldest_seq()
  return { 'bounds', oldest >= 0 and num(oldest) or '', latest, epoch }
end

-- Where to read after: the cursor, checked against what this log issued and deleted.
local after
if cursor == -2 then return reset('unknown') end
if cursor == -1 then
  after = 0
else
  if cursor ~= 0 and (not issued or cursor > seq or cursor < base) then return reset('unknown') end
  after = math.max(cursor, issued and base - 1 or 0)
  if after < pruned then return reset('expired') end
  local marks = redis.call('HGETALL', TPRUNED)
  for i = 1, #marks, 2 do
    if tonumber(marks[i + 1]) > after and wanted(marks[i]) then return reset('expired') end
  end
end

local out = { 'events', '', 0, epoch, latest }
local function push(entry) out[#out + 1] = entry end
local start = '(' .. num(after) .. '-0'
if after == 0 then start = '-' end

if mode == 'all' then
  local got = redis.call('XRANGE', LOG, start, '+', 'COUNT', limit + 1)
  for i = 1, math.min(#got, limit) do push(got[i]) end
  if #got > limit then out[3] = 1 end
  if #got > 0 then out[2] = num(seq_of(got[math.min(#got, limit)][1])) end
  return out
end

-- The topics to follow: the exact ones, and those under the patterns' prefixes that match.
local keys, seen = {}, {}
for _, t in ipairs(exact) do
  if not seen[t] then seen[t] = true; keys[#keys + 1] = t end
end
local scan = false
for i = 1, #prefixes, 2 do
  local found = redis.call('ZRANGEBYLEX', TOPICS, prefixes[i], prefixes[i + 1], 'LIMIT', 0, index_limit + 1)
  for _, t in ipairs(found) do
    if not seen[t] and wanted(t) then seen[t] = true; keys[#keys + 1] = t end
  end
  if #found > index_limit or #keys > index_limit then scan = true; break end
end

if scan then
  -- Too many topics to merge: walk the log, at most budget entries per page.
  local got = redis.call('XRANGE', LOG, start, '+', 'COUNT', budget)
  local last = nil
  for _, entry in ipairs(got) do
    local f = fields(entry[2])
    local hit = false
    for _, t in ipairs(all_topics(f)) do if wanted(t) then hit = true; break end end
    if hit then
      if #out - 5 == limit then out[3] = 1; break end
      push(entry)
    end
    last = entry[1]
  end
  if #got == budget then out[3] = 1 end
  if last then out[2] = num(seq_of(last)) end
  return out
end

-- Merge the indexes: the smallest limit + 1 ids after the cursor across every topic.
local ids = {}
for _, t in ipairs(keys) do
  local got = redis.call('XRANGE', P .. 'i:' .. t, start, '+', 'COUNT', limit + 1)
  for _, entry in ipairs(got) do ids[#ids + 1] = seq_of(entry[1]) end
end
table.sort(ids)
local count, prev = 0, nil
for _, s in ipairs(ids) do
  if s ~= prev then
    prev = s
    if count == limit then out[3] = 1; break end
    local id = num(s) .. '-0'
    local found = redis.call('XRANGE', LOG, id, id)
    if #found == 1 then push(found[1]) end
    count = count + 1
    out[2] = num(s)
  end
end
return out
`
