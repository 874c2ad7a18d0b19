-- Apply one validated event to one customer's aggregates, atomically.
-- Mirrors features.aggregates.fold step for step (same double arithmetic,
-- numbers stored with 17 significant digits so they round-trip exactly).
-- KEYS: 1 aggregates hash, 2 open invoices hash, 3 open disputes set,
--       4 issued invoice ids set, 5 applied event ids set
-- ARGV: event_id, type, invoice_id, at_us, amount, due_us (a promise: its deadline)
-- K, TOL, ORIGIN, HALF, DAY (RECENT_K, PAID_TOLERANCE, EWM_ORIGIN_US, EWM_HALFLIFE_US, US_PER_DAY) are
-- set by the first line, which features/online/redis.py puts before this text: constants, so they are
-- not sent with every event.
-- Returns {'applied'} | {'duplicate'} | {'refused', reason[, watermark_us]}
-- Every check comes before any write: a refused event changes nothing, and a
-- sum that would leave the double range is refused ('not_finite'). Promises
-- whose deadline is at or before the event's time are counted broken first.
-- An open invoice is "amount|paid|due_us|issued_us|disputed|escalated";
-- pending promises are "deadline,target,invoice;..." in the aggregates hash.
local main, open, disputed, invoices, seen = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local event_id, kind, inv = ARGV[1], ARGV[2], ARGV[3]
local at, amount, due = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])

local function fmt(x) return string.format('%.17g', x) end
local function get(field)
  local v = redis.call('HGET', main, field)
  if v then return tonumber(v) end
  return nil
end
local function add(field, by) redis.call('HSET', main, field, fmt((get(field) or 0) + by)) end
local function finite(...)
  for _, x in ipairs({...}) do
    if x ~= x or x == math.huge or x == -math.huge then return false end
  end
  return true
end

-- byte-wise string order (Lua's < follows the server locale)
local function str_after(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

-- is recent entry "at,invoice,days" later than (t, id)?
local function entry_after(entry, t, id)
  local et, eid = string.match(entry, '^([^,]+),([^,]+),')
  et = tonumber(et)
  if et ~= t then return et > t end
  return str_after(eid, id)
end

local function open_record(id)
  local rec = redis.call('HGET', open, id)
  if not rec then return nil end
  local a, p, d, issued, dis, esc = string.match(rec, '^([^|]+)|([^|]+)|([^|]+)|([^|]+)|([^|]+)|([^|]+)$')
  if not a then  -- written before the dispute and escalation flags existed
    a, p, d, issued = string.match(rec, '^([^|]+)|([^|]+)|([^|]+)|([^|]+)$')
    dis, esc = redis.call('SISMEMBER', disputed, id) == 1 and '1' or '0', '0'
  end
  return {a = tonumber(a), p = tonumber(p), d = d, issued = issued, dis = dis, esc = esc}
end
local function save(id, r)
  redis.call('HSET', open, id, fmt(r.a) .. '|' .. fmt(r.p) .. '|' .. r.d .. '|' .. r.issued .. '|' .. r.dis
             .. '|' .. r.esc)
end

-- pending promises: keep those for which keep(deadline, target, invoice) is true; returns how many were dropped
local function filter_promises(keep)
  local list = redis.call('HGET', main, 'promises')
  if not list then return 0 end
  local kept, dropped = {}, 0
  for e in string.gmatch(list, '[^;]+') do
    local dl, target, id = string.match(e, '^([^,]+),([^,]+),(.+)$')
    if keep(tonumber(dl), tonumber(target), id) then kept[#kept + 1] = e else dropped = dropped + 1 end
  end
  if dropped > 0 then
    if #kept > 0 then redis.call('HSET', main, 'promises', table.concat(kept, ';'))
    else redis.call('HDEL', main, 'promises') end
  end
  return dropped
end
local function break_due()
  local broken = filter_promises(function(dl) return dl > at end)
  if broken > 0 then add('broken_promises', broken) end
end

if redis.call('SISMEMBER', seen, event_id) == 1 then return {'duplicate'} end
if kind ~= 'reminder_sent' then
  local watermark = get('watermark')
  if watermark and at < watermark then return {'refused', 'out_of_order', fmt(watermark)} end
  if kind == 'invoice_issued' then
    if redis.call('SISMEMBER', invoices, inv) == 1 then return {'refused', 'invoice_exists'} end
    if not finite((get('amount_sum') or 0) + amount) then return {'refused', 'not_finite'} end
    break_due()
    redis.call('SADD', invoices, inv)
    redis.call('HSET', open, inv, fmt(amount) .. '|0|' .. fmt(due) .. '|' .. fmt(at) .. '|0|0')
    add('n_issued', 1)
    add('amount_sum', amount)
    if not get('first_issued') then redis.call('HSET', main, 'first_issued', fmt(at)) end
  elseif kind == 'dispute_opened' or kind == 'dispute_resolved' then
    if kind == 'dispute_opened' then
      if redis.call('SISMEMBER', invoices, inv) == 0 then return {'refused', 'unknown_invoice'} end
      if redis.call('SISMEMBER', disputed, inv) == 1 then return {'refused', 'dispute_open'} end
    elseif redis.call('SISMEMBER', disputed, inv) == 0 then
      return {'refused', 'no_open_dispute'}
    end
    break_due()
    local r = open_record(inv)
    if kind == 'dispute_opened' then
      redis.call('SADD', disputed, inv)
      add('disputes_opened', 1)
      if r then r.dis = '1' end
    else
      redis.call('SREM', disputed, inv)
      if r then r.dis = '0' end
    end
    if r then save(inv, r) end
    redis.call('HSET', main, 'open_disputes', redis.call('SCARD', disputed))
  else -- payment_received, invoice_written_off, promise_made, invoice_escalated: the invoice must be open
    local r = open_record(inv)
    if not r then
      if redis.call('SISMEMBER', invoices, inv) == 1 then return {'refused', 'invoice_closed'} end
      return {'refused', 'unknown_invoice'}
    end
    local p = r.p + amount
    local paid_in_full, days, w = false, 0, 0
    if kind == 'payment_received' or kind == 'promise_made' then
      if not finite(p) then return {'refused', 'not_finite'} end
    end
    if kind == 'payment_received' then
      paid_in_full = p >= r.a - TOL
      if paid_in_full then
        days = (at - tonumber(r.d)) / DAY
        w = math.pow(2, (at - ORIGIN) / HALF)
        if not finite(days, w, (get('dl_sum') or 0) + days, (get('ewm_num') or 0) + w * days,
                      (get('ewm_den') or 0) + w) then
          return {'refused', 'not_finite'}
        end
      end
    end
    break_due()
    if kind == 'invoice_written_off' then
      redis.call('HDEL', open, inv)
      add('write_offs', 1)
    elseif kind == 'promise_made' then
      local entry = fmt(due) .. ',' .. fmt(p) .. ',' .. inv
      local list = redis.call('HGET', main, 'promises')
      redis.call('HSET', main, 'promises', list and (list .. ';' .. entry) or entry)
    elseif kind == 'invoice_escalated' then
      r.esc = '1'
      save(inv, r)
    else
      redis.call('HSET', main, 'last_payment', fmt(at))
      if paid_in_full then
        redis.call('HDEL', open, inv)
        add('n_paid', 1)
        if days > 0 then add('n_late', 1) end
        add('dl_sum', days)
        add('ewm_num', w * days)
        add('ewm_den', w)
        local items = {}
        local recent = redis.call('HGET', main, 'recent')
        if recent then
          for e in string.gmatch(recent, '[^;]+') do items[#items + 1] = e end
        end
        local pos = #items + 1
        while pos > 1 and entry_after(items[pos - 1], at, inv) do pos = pos - 1 end
        table.insert(items, pos, fmt(at) .. ',' .. inv .. ',' .. fmt(days))
        while #items > K do table.remove(items, 1) end
        redis.call('HSET', main, 'recent', table.concat(items, ';'))
      else
        r.p = p
        save(inv, r)
      end
      filter_promises(function(_, target, id) return id ~= inv or p < math.min(target, r.a) - TOL end)
    end
  end
  redis.call('HSET', main, 'watermark', fmt(at))
end
redis.call('SADD', seen, event_id)
return {'applied'}
