-- bench/wrk.lua: the requests of `make bench` (bench/run.sh), for wrk.
--
-- The Authorization header comes from wrk's -H; everything else from the
-- environment:
--   BENCH_MODE=url      the URL given to wrk, as is (floor, list pages)
--   BENCH_MODE=ids      GET BENCH_PREFIX..ID, ID read round-robin (from a
--                       random start per thread) from the lines of
--                       BENCH_IDS_FILE: a pool of objects, not one hot row
--   BENCH_MODE=create   POST /v1/reassessments: radar_event_id BENCH_EVENT
--                       and 3 distinct vendors drawn from BENCH_VENDORS
--                       (space-separated); each request makes a new draft
--   BENCH_MODE=mix      GET the lines of BENCH_PATHS_FILE, round-robin
--
-- done() prints one line that bench/run.sh parses:
--   BENCH requests=N seconds=S rps=R p50_ms=A p99_ms=B non2xx=K errors=E

local mode = os.getenv("BENCH_MODE") or "url"
local counter = 1

local function lines(path)
   local t = {}
   local f = assert(io.open(path, "r"))
   for l in f:lines() do
      if l ~= "" then t[#t + 1] = l end
   end
   f:close()
   return t
end

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
end

local ids, paths, vendors, event, prefix, post_headers
local i = 0

function init(args)
   math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
   if mode == "ids" then
      ids = lines(os.getenv("BENCH_IDS_FILE"))
      prefix = os.getenv("BENCH_PREFIX") or "/v1/reassessments/"
      i = math.random(#ids)
   elseif mode == "mix" then
      paths = lines(os.getenv("BENCH_PATHS_FILE"))
      i = math.random(#paths)
   elseif mode == "create" then
      vendors = {}
      for v in string.gmatch(os.getenv("BENCH_VENDORS"), "%S+") do
         vendors[#vendors + 1] = v
      end
      event = os.getenv("BENCH_EVENT")
      -- A headers table replaces wrk.headers (the -H ones): copy them.
      post_headers = { ["Content-Type"] = "application/json" }
      for k, v in pairs(wrk.headers) do post_headers[k] = v end
   end
end

local function three()
   -- 3 distinct vendors out of the pool, in random order.
   local a = math.random(#vendors)
   local b = math.random(#vendors - 1)
   if b >= a then b = b + 1 end
   local c
   repeat c = math.random(#vendors) until c ~= a and c ~= b
   return vendors[a], vendors[b], vendors[c]
end

function request()
   if mode == "ids" then
      i = i % #ids + 1
      return wrk.format("GET", prefix .. ids[i])
   elseif mode == "mix" then
      i = i % #paths + 1
      return wrk.format("GET", paths[i])
   elseif mode == "create" then
      local a, b, c = three()
      local body = string.format(
         '{"radar_event_id":"%s","vendor_ids":["%s","%s","%s"],' ..
         '"title":"bench %d"}', event, a, b, c, math.random(1000000000))
      return wrk.format("POST", "/v1/reassessments", post_headers, body)
   end
   return wrk.format()
end

function done(summary, latency, requests)
   local e = summary.errors
   local s = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f " ..
      "non2xx=%d errors=%d\n",
      summary.requests, s, summary.requests / s,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      e.status, e.connect + e.read + e.write + e.timeout))
end
