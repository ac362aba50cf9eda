//! The Lua scripts that make each save one atomic step on the server, and
//! the marker field they keep in every session's hash.

/// The field that keeps an otherwise empty hash alive (Redis deletes empty
/// hashes) and marks it as a session. Its value is the record's size in
/// bytes of
/// [`record::encoded_len`](sessions_core::backend::record::encoded_len)
/// and the record's revision, a space between them, both kept up to date
/// by every write: a save checks the whole record against the limit
/// without reading it, and a save of a record still at the revision its
/// request loaded skips even that. The revision starts at the creating
/// client's clock in microseconds and moves on by at least one per write,
/// so a record deleted and made again does not repeat an old revision. A
/// marker written before revisions holds the size alone, and is given one
/// by the next write. The session model never uses an empty field name.
pub(crate) const MARKER_FIELD: &str = "";

/// Lua's `unpack` is limited by the C stack (about 8000 values), so long
/// argument lists are applied in slices of this many.
pub(crate) const LUA_SLICE: usize = 512;

/// Lua functions the scripts share: the record format's sizes.
macro_rules! lua_sizes {
    () => {
        r"
local function varint_len(n)
  local len = 1
  while n >= 128 do
    n = math.floor(n / 128)
    len = len + 1
  end
  return len
end
local function field_len(name, value_len)
  return varint_len(#name) + #name + varint_len(value_len) + value_len
end
-- The size and the revision a marker holds (either may be missing).
local function marker_parts(marker)
  if not marker then return nil, nil end
  return tonumber(string.match(marker, '^(%d+)')), tonumber(string.match(marker, ' (%d+)$'))
end
-- A record takes at least two bytes, so a smaller or missing size is a
-- hash whose marker did not hold it yet: count it field by field once.
local function stored_size(key, size)
  if size and size >= 2 then return size end
  local all = redis.call('HGETALL', key)
  local body, count = 0, 0
  for i = 1, #all, 2 do
    if all[i] ~= '' then
      body = body + field_len(all[i], #all[i + 1])
      count = count + 1
    end
  end
  return 1 + varint_len(count) + body
end
"
    };
}

/// Writes a new hash only if the key is free.
/// KEYS[1]: the key. ARGV[1]: TTL in ms. ARGV[2]: slice size. ARGV[3..]:
/// name, value pairs (the marker and the record's size first).
pub(crate) const CREATE_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local slice = tonumber(ARGV[2])
for i = 3, #ARGV, slice do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + slice - 1, #ARGV)))
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
";

/// Applies a patch to an existing hash, never creating one, and never
/// taking the record over the limit. Returns 1 when applied, 0 when there
/// is no hash, and minus the size the record would have had when it would
/// be over the limit.
///
/// When the record is still at the revision the saving request loaded it
/// at, the record after the patch is the one that request holds: its size
/// is known, and so is the marker to write, which the request sends. The
/// patch is then written at once, before the script defines anything else:
/// each step a script takes costs Redis about a microsecond or two, and a
/// script that recounted every save cost it 22 µs, ten times a plain `SET`.
/// Otherwise the size after the patch is worked out from the stored size
/// and the lengths of the fields the patch replaces (`HSTRLEN`, constant
/// time each) before anything is written.
///
/// KEYS[1]: the key. ARGV[1]: TTL in ms. ARGV[2]: slice size.
/// ARGV[3]: '1' to clear. ARGV[4]: the limit. ARGV[5]: number of removed
/// names `n`. ARGV[6]: the revision loaded ('' when none). ARGV[7]: the
/// marker to write at that revision. ARGV[8]: the client's clock in
/// microseconds. ARGV[9..9+n-1]: removed names. Then name, value pairs to
/// set.
pub(crate) const UPDATE_SCRIPT: &str = concat!(
    r"
local key = KEYS[1]
local marker = redis.call('HGET', key, '')
local slice = tonumber(ARGV[2])
local first_set = 9 + tonumber(ARGV[5])
if marker and ARGV[6] ~= '' and string.match(marker, ' (%d+)$') == ARGV[6] then
  for i = 9, first_set - 1, slice do
    redis.call('HDEL', key, unpack(ARGV, i, math.min(i + slice - 1, first_set - 1)))
  end
  if #ARGV - first_set < slice * 2 then
    redis.call('HSET', key, '', ARGV[7], unpack(ARGV, first_set, #ARGV))
  else
    for i = first_set, #ARGV, slice * 2 do
      redis.call('HSET', key, unpack(ARGV, i, math.min(i + slice * 2 - 1, #ARGV)))
    end
    redis.call('HSET', key, '', ARGV[7])
  end
  redis.call('PEXPIRE', key, ARGV[1])
  return 1
end
if not marker and redis.call('EXISTS', key) == 0 then return 0 end
",
    lua_sizes!(),
    r"
local clear = ARGV[3] == '1'
local limit = tonumber(ARGV[4])
local marked_size, revision = marker_parts(marker)
local count = redis.call('HLEN', key) - 1
local body = stored_size(key, marked_size) - 1 - varint_len(count)
if clear then
  count = 0
  body = 0
end
local gone = {}
local function drop(name)
  if clear or gone[name] then return end
  gone[name] = true
  if redis.call('HEXISTS', key, name) == 1 then
    body = body - field_len(name, redis.call('HSTRLEN', key, name))
    count = count - 1
  end
end
for i = 9, first_set - 1 do drop(ARGV[i]) end
for i = first_set, #ARGV, 2 do
  drop(ARGV[i])
  body = body + field_len(ARGV[i], #ARGV[i + 1])
  count = count + 1
end
local size = 1 + varint_len(count) + body
if size > limit then return -size end
if clear then redis.call('DEL', key) end
for i = 9, first_set - 1, slice do
  redis.call('HDEL', key, unpack(ARGV, i, math.min(i + slice - 1, first_set - 1)))
end
for i = first_set, #ARGV, slice * 2 do
  redis.call('HSET', key, unpack(ARGV, i, math.min(i + slice * 2 - 1, #ARGV)))
end
local now = tonumber(ARGV[8])
local next = now
if revision and revision >= now then next = revision + 1 end
redis.call('HSET', key, '', string.format('%.0f %.0f', size, next))
redis.call('PEXPIRE', key, ARGV[1])
return 1
"
);

/// Deletes a hash whose record is over the limit (written while the limit
/// was higher), unless a save has brought it back under in the meantime.
/// KEYS[1]: the key. ARGV[1]: the limit.
pub(crate) const DISCARD_SCRIPT: &str = concat!(
    lua_sizes!(),
    r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local size = marker_parts(redis.call('HGET', KEYS[1], ''))
if stored_size(KEYS[1], size) <= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"
);
