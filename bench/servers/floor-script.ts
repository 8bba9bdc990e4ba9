/**
 * The floors' one round trip per view. Returns false when the session does not exist, so that a view
 * can never recreate a session a logout deleted (HINCRBY alone would); else the username and the new
 * count, with the idle TTL slid.
 */
export const VIEW_SCRIPT = `
local name = redis.call('HGET', KEYS[1], 'username')
if not name then return false end
local visits = redis.call('HINCRBY', KEYS[1], 'visits', 1)
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {name, visits}
`;
