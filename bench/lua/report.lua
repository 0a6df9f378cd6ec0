-- Shared by every scenario: stop after a request budget, print one JSON line of results.
-- `max_requests` (per thread) comes from the BENCH_MAX_REQUESTS environment variable.
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")
local counted = 0
local threads = {}

function setup(thread)
  thread:set("thread_no", #threads)  -- a global in that thread's own Lua state
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status >= 400 then
    bad = (bad or 0) + 1
  end
  if status == 429 then
    refused = (refused or 0) + 1
  end
  counted = counted + 1
  if max_requests > 0 and counted >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local bad_total = 0
  local refused_total = 0
  for _, t in ipairs(threads) do
    bad_total = bad_total + (t:get("bad") or 0)
    refused_total = refused_total + (t:get("refused") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "http_errors": %d, "refused_429": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "status_errors": %d, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, ' ..
    '"max_ms": %.2f, "mean_ms": %.2f}\n',
    summary.requests, summary.duration, bad_total, refused_total, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000))
end
