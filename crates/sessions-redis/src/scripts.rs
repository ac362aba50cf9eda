//! The Lua scripts that make each save one atomic step on the server, and
//! the marker field they keep in every session's hash.

/// The field that keeps an otherwise empty hash alive (Redis deletes empty
/// hashes) and marks it as a session. Its value is the record's size in
/// bytes of
/// [`record::encoded_len`](sessions_core::backend::record::encoded_len),
/// kept up to date by every write, so a save can check the whole record
/// against the limit without reading it.
/// The session model never uses an empty field name.
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
-- A record takes at least two bytes, so a smaller or missing size is a
-- hash whose marker did not hold it yet: count it field by field once.
local function stored_size(key)
  local size = tonumber(redis.call('HGET', key, ''))
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
/// taking the record over the limit: the size after the patch is worked
/// out from the stored size and the lengths of the fields the patch
/// replaces (`HSTRLEN`, constant time each) before anything is written.
/// Returns 1 when applied, 0 when there is no hash, and minus the size the
/// record would have had when it would be over the limit.
/// KEYS[1]: the key. ARGV[1]: TTL in ms. ARGV[2]: slice size.
/// ARGV[3]: '1' to clear. ARGV[4]: the limit. ARGV[5]: number of removed
/// names `n`. ARGV[6..6+n-1]: removed names. Then name, value pairs to set.
pub(crate) const UPDATE_SCRIPT: &str = concat!(
    lua_sizes!(),
    r"
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
local slice = tonumber(ARGV[2])
local clear = ARGV[3] == '1'
local limit = tonumber(ARGV[4])
local first_set = 6 + tonumber(ARGV[5])
local count = redis.call('HLEN', key) - 1
local body = stored_size(key) - 1 - varint_len(count)
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
for i = 6, first_set - 1 do drop(ARGV[i]) end
for i = first_set, #ARGV, 2 do
  drop(ARGV[i])
  body = body + field_len(ARGV[i], #ARGV[i + 1])
  count = count + 1
end
local size = 1 + varint_len(count) + body
if size > limit then return -size end
if clear then redis.call('DEL', key) end
for i = 6, first_set - 1, slice do
  redis.call('HDEL', key, unpack(ARGV, i, math.min(i + slice - 1, first_set - 1)))
end
for i = first_set, #ARGV, slice * 2 do
  redis.call('HSET', key, unpack(ARGV, i, math.min(i + slice * 2 - 1, #ARGV)))
end
redis.call('HSET', key, '', tostring(size))
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
if stored_size(KEYS[1]) <= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"
);
