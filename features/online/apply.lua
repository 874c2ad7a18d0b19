-- Apply one validated event to one customer's aggregates, atomically.
-- Mirrors features.aggregates.fold step for step (same double arithmetic,
-- numbers stored with 17 significant digits so they round-trip exactly).
-- KEYS: 1 aggregates hash, 2 open invoices hash, 3 open disputes set,
--       4 issued invoice ids set, 5 applied event ids set
-- ARGV: event_id, type, invoice_id, at_us, amount, due_us,
--       RECENT_K, PAID_TOLERANCE, EWM_ORIGIN_US, EWM_HALFLIFE_US, US_PER_DAY
-- Returns {'applied'} | {'duplicate'} | {'refused', reason[, watermark_us]}
-- A sum that would leave the double range is refused ('not_finite') before
-- anything is written: no infinite aggregate is ever stored.
local main, open, disputed, invoices, seen = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local event_id, kind, inv = ARGV[1], ARGV[2], ARGV[3]
local at, amount, due = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local K, TOL, ORIGIN = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local HALF, DAY = tonumber(ARGV[10]), tonumber(ARGV[11])

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

if redis.call('SISMEMBER', seen, event_id) == 1 then return {'duplicate'} end
if kind ~= 'reminder_sent' then
  local watermark = get('watermark')
  if watermark and at < watermark then return {'refused', 'out_of_order', fmt(watermark)} end
  if kind == 'invoice_issued' then
    if redis.call('SISMEMBER', invoices, inv) == 1 then return {'refused', 'invoice_exists'} end
    if not finite((get('amount_sum') or 0) + amount) then return {'refused', 'not_finite'} end
    redis.call('SADD', invoices, inv)
    redis.call('HSET', open, inv, fmt(amount) .. '|0|' .. fmt(due) .. '|' .. fmt(at))
    add('n_issued', 1)
    add('amount_sum', amount)
    if not get('first_issued') then redis.call('HSET', main, 'first_issued', fmt(at)) end
  elseif kind == 'payment_received' or kind == 'invoice_written_off' then
    local rec = redis.call('HGET', open, inv)
    if not rec then
      if redis.call('SISMEMBER', invoices, inv) == 1 then return {'refused', 'invoice_closed'} end
      return {'refused', 'unknown_invoice'}
    end
    local a, p, d, issued = string.match(rec, '^([^|]+)|([^|]+)|([^|]+)|([^|]+)$')
    a, p, d = tonumber(a), tonumber(p), tonumber(d)
    if kind == 'invoice_written_off' then
      redis.call('HDEL', open, inv)
      add('write_offs', 1)
    else
      p = p + amount
      if not finite(p) then return {'refused', 'not_finite'} end
      local paid_in_full = p >= a - TOL
      local days, w
      if paid_in_full then
        days = (at - d) / DAY
        w = math.pow(2, (at - ORIGIN) / HALF)
        if not finite(days, w, (get('dl_sum') or 0) + days, (get('ewm_num') or 0) + w * days,
                      (get('ewm_den') or 0) + w) then
          return {'refused', 'not_finite'}
        end
      end
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
        redis.call('HSET', open, inv, fmt(a) .. '|' .. fmt(p) .. '|' .. fmt(d) .. '|' .. issued)
      end
    end
  elseif kind == 'dispute_opened' then
    if redis.call('SISMEMBER', invoices, inv) == 0 then return {'refused', 'unknown_invoice'} end
    if redis.call('SADD', disputed, inv) == 0 then return {'refused', 'dispute_open'} end
    add('disputes_opened', 1)
    redis.call('HSET', main, 'open_disputes', redis.call('SCARD', disputed))
  else
    if redis.call('SREM', disputed, inv) == 0 then return {'refused', 'no_open_dispute'} end
    redis.call('HSET', main, 'open_disputes', redis.call('SCARD', disputed))
  end
  redis.call('HSET', main, 'watermark', fmt(at))
end
redis.call('SADD', seen, event_id)
return {'applied'}
