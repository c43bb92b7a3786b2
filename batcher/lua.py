"""Lua scripts: each touches the keys of one shard only (one hash tag, one cluster slot),
so each runs atomically on Redis Cluster too."""

from __future__ import annotations

# KEYS: shard, processing list, owner lease. ARGV: consumer, max events.
# Returns {resumed, items}. A non-empty processing list is an unacknowledged batch (a
# failed write, an adopted list): it is handed out again, unchanged, before anything new,
# whoever owns the shard now. Otherwise, if the lease is still ours, entries holding up to
# N events (at least one entry) move from the head of the shard to the processing list in
# one atomic step. An entry is a hit batch of an edge flush (`[1, [hit, ...]]` in msgpack:
# its second array header counts its hits, as `tracer.hits.hits_in` reads it) or one event.
TAKE = """
local function hits_in(item)
    local a, b, c = string.byte(item, 1, 3)
    if a ~= 0x92 or b ~= 0x01 or c == nil then return 1 end
    if c >= 0x90 and c <= 0x9f then return c - 0x90 end
    if c == 0xdc then
        local h, l = string.byte(item, 4, 5)
        return h * 256 + l
    end
    if c == 0xdd then
        local b1, b2, b3, b4 = string.byte(item, 4, 7)
        return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    end
    return 1
end
local pending = redis.call('LRANGE', KEYS[2], 0, -1)
if #pending > 0 then return {1, pending} end
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {0, {}} end
local budget = tonumber(ARGV[2])
local items = {}
local events = 0
while events < budget do
    local chunk = redis.call('LRANGE', KEYS[1], #items, #items + 63)
    for _, item in ipairs(chunk) do
        items[#items + 1] = item
        events = events + hits_in(item)
        if events >= budget then break end
    end
    if #chunk < 64 then break end
end
if #items == 0 then return {0, {}} end
redis.call('LTRIM', KEYS[1], #items, -1)
for i = 1, #items, 1000 do
    redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
return {0, items}
"""

# KEYS: processing list, shard. Puts a batch back at the head of its shard, in order.
PUSH_BACK = """
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do moved = moved + 1 end
return moved
"""

# KEYS: dead consumer's processing list, our processing list (same shard).
# Returns the events adopted, 0 when there was nothing, -1 when ours is busy (try later).
ADOPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('RENAME', KEYS[1], KEYS[2])
return redis.call('LLEN', KEYS[2])
"""

# KEYS: owner lease. ARGV: consumer, ttl ms. Extends the lease only if it is still ours.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: owner lease. ARGV: consumer. Gives the lease up only if it is ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: the shard's dead list, our processing list of the shard. ARGV: dead entries.
# A batch's dead entries and its ack in one atomic step; a no-op once the processing list
# is gone (acknowledged before, or adopted by another batcher, which then answers for
# the batch), so a round of acks can be sent again whole after a lost reply.
ACK = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
for i = 1, #ARGV, 1000 do
    redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return redis.call('DEL', KEYS[2])
"""
