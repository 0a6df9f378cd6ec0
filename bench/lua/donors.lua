-- The donors' addresses, as a trusted proxy passes them on in X-Forwarded-For: BENCH_DONORS of
-- them (default 10,000), each in its own /24, taken in turn across wrk's threads.
local donors = tonumber(os.getenv("BENCH_DONORS") or "10000")
local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
local sent = 0

function next_donor()
  local i = (sent * threads + thread_no) % donors
  sent = sent + 1
  return string.format("%d.%d.%d.%d", 20 + math.floor(i / 65536), math.floor(i / 256) % 256, i % 256, 7 + i % 200)
end
