-- The benchmark's request mixes, for wrk 4.1: wrk -s bench/mix.lua URL -- DATA_FILE MIX TAG
--
-- DATA_FILE is written by bench/load.py, one tab-separated record a line:
--   T  account  token                       one per account
--   P  account  profile id  email (JSON)    guests the requests are spread over
--   C  create body before the email  after  create bodies (the email is made unique per request)
--   N  contact PATCH body                   A  deliveryAddresses PATCH body
--   S  client_id  client_secret             one client, for the token endpoint
-- MIX is read, write, floor or token. TAG makes this run's new emails unique.
-- done() prints one line, "BENCH-RESULT {json}", that bench/load.py reads.

local tokens, profiles, creates, contacts, addresses = {}, {}, {}, {}, {}
local credentials
local mix, tag
local sent = 0

-- Read by done() through thread:get, so they are globals of the thread.
statuses, kinds, samples = {}, {}, {}

local function fields(line)
  local out = {}
  for value in (line .. "\t"):gmatch("([^\t]*)\t") do
    out[#out + 1] = value
  end
  return out
end

function init(args)
  local path = args[1]
  mix, tag = args[2], args[3] or "run"
  for line in io.lines(path) do
    local f = fields(line)
    local kind = f[1]
    if kind == "T" then
      tokens[f[2]] = {
        get = { ["Authorization"] = "Bearer " .. f[3] },
        json = { ["Authorization"] = "Bearer " .. f[3], ["Content-Type"] = "application/json" },
      }
    elseif kind == "P" then
      local base = "/crm/" .. f[2] .. "/customers/"
      profiles[#profiles + 1] = {
        account = f[2],
        path = base .. f[3],
        orders = base .. f[3] .. "/orders?page=1&size=20",
        lookup = '{"email":' .. f[4] .. "}",
      }
    elseif kind == "C" then
      creates[#creates + 1] = { f[2], f[3] }
    elseif kind == "N" then
      contacts[#contacts + 1] = f[2]
    elseif kind == "A" then
      addresses[#addresses + 1] = f[2]
    elseif kind == "S" then
      credentials = '{"client_id":"' .. f[2] .. '","client_secret":"' .. f[3]
        .. '","grant_type":"client_credentials"}'
    end
  end
  math.randomseed(os.time() + #tag)
end

local function count(kind)
  kinds[kind] = (kinds[kind] or 0) + 1
end

local function pick(list)
  return list[math.random(#list)]
end

local json_only = { ["Content-Type"] = "application/json" }

function request()
  local p = pick(profiles)
  local h = tokens[p.account]
  local r = math.random()
  if mix == "read" then
    if r < 0.4 then
      count("get_profile")
      return wrk.format("GET", p.path, h.get)
    elseif r < 0.8 then
      count("lookup_email")
      return wrk.format("POST", "/crm/" .. p.account .. "/customers/lookup", h.json, p.lookup)
    end
    count("order_history")
    return wrk.format("GET", p.orders, h.get)
  elseif mix == "write" then
    if r < 0.5 then
      count("create")
      sent = sent + 1
      local body = pick(creates)
      local email = '"bench.' .. tag .. "." .. sent .. '@example.com"'
      return wrk.format("POST", "/crm/" .. p.account .. "/customers", h.json, body[1] .. email .. body[2])
    elseif r < 0.8 then
      count("patch_contact")
      return wrk.format("PATCH", p.path, h.json, pick(contacts))
    end
    count("patch_addresses")
    return wrk.format("PATCH", p.path .. "/deliveryAddresses", h.json, pick(addresses))
  elseif mix == "token" then
    count("token")
    return wrk.format("POST", "/oauth/token", json_only, credentials)
  end
  -- The floor gets the same request as a profile read.
  count("floor")
  return wrk.format("GET", p.path, h.get)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status > 299) and samples[status] == nil then
    samples[status] = body:sub(1, 300)
  end
end

-- done() runs in wrk's main Lua state: it collects the threads' counters through setup().
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

local function quote(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

local function object(t, as_string)
  local parts = {}
  for k, v in pairs(t) do
    parts[#parts + 1] = quote(tostring(k)) .. ":" .. (as_string and quote(v) or tostring(v))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function merge(into, from, add)
  for k, v in pairs(from or {}) do
    if add then into[k] = (into[k] or 0) + v elseif into[k] == nil then into[k] = v end
  end
end

function done(summary, latency, requests)
  local all_statuses, all_kinds, all_samples = {}, {}, {}
  for _, thread in ipairs(threads) do
    merge(all_statuses, thread:get("statuses"), true)
    merge(all_kinds, thread:get("kinds"), true)
    merge(all_samples, thread:get("samples"), false)
  end
  local e = summary.errors
  local out = {
    '"requests":' .. summary.requests,
    '"duration_us":' .. summary.duration,
    '"bytes":' .. summary.bytes,
    '"errors":' .. object({ connect = e.connect, read = e.read, write = e.write, timeout = e.timeout, status = e.status }),
    '"latency_us":' .. object({
      p50 = latency:percentile(50), p90 = latency:percentile(90), p99 = latency:percentile(99),
      max = latency.max, mean = latency.mean,
    }),
    '"statuses":' .. object(all_statuses),
    '"kinds":' .. object(all_kinds),
    '"samples":' .. object(all_samples, true),
  }
  io.write("BENCH-RESULT {" .. table.concat(out, ",") .. "}\n")
end
