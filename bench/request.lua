-- wrk script of bench/run: one request shape, driven by environment variables.
--
--   BENCH_METHOD  GET, POST or PATCH (default GET)
--   BENCH_PATH    the path; "{item}" is replaced by the current item
--   BENCH_BODY    the JSON body, if any; "{item}" as above, "{n}" by a
--                 counter unique to the request
--   BENCH_ITEMS   a file with one item per line (keys or ids), used in turn;
--                 each wrk thread starts at its own offset
--   BENCH_AUTH    an API key sent as "Authorization: Bearer ..."
--
-- done() prints one JSON line: requests, duration, errors and latency
-- percentiles in microseconds.

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("thread_index", counter)
   table.insert(threads, thread)
end

local method, path, body, headers
local items, n_items, next_item, n

function init(args)
   method = os.getenv("BENCH_METHOD") or "GET"
   path = os.getenv("BENCH_PATH") or "/"
   body = os.getenv("BENCH_BODY")
   headers = {}
   local auth = os.getenv("BENCH_AUTH")
   if auth then headers["Authorization"] = "Bearer " .. auth end
   if body then headers["Content-Type"] = "application/json" end
   items = {}
   local file = os.getenv("BENCH_ITEMS")
   if file then
      for line in io.lines(file) do items[#items + 1] = line end
   end
   n_items = #items
   local threads_total = tonumber(os.getenv("BENCH_THREADS") or "1")
   local index = thread_index or 1
   next_item = 0
   if n_items > 0 then
      next_item = math.floor((index - 1) * n_items / threads_total)
   end
   n = index * 1000000000
end

function request()
   n = n + 1
   local p, b = path, body
   if n_items > 0 then
      local item = items[next_item + 1]
      next_item = (next_item + 1) % n_items
      p = string.gsub(p, "{item}", item)
      if b then b = string.gsub(b, "{item}", item) end
   end
   if b then b = string.gsub(b, "{n}", tostring(n)) end
   return wrk.format(method, p, headers, b)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
      '"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"p999_us":%.1f,"max_us":%.1f,"mean_us":%.1f}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean))
end
