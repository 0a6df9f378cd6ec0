-- A card-testing burst through the same proxy: every request a new donation attempt from one
-- address (BENCH_ADDRESSES=1) or from BENCH_ADDRESSES addresses in consecutive /24 networks
-- (500: 198.51.100.1-250 and 198.51.101.1-250, a rented proxy block).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
local addresses = tonumber(os.getenv("BENCH_ADDRESSES") or "1")
local n = 0
local body = '{"appeal": "red-cross-ukraine", "amount": 500, "currency": "gbp", "frequency": "one_off"}'

function request()
  local i = (n * tonumber(os.getenv("BENCH_THREADS") or "1") + thread_no) % addresses
  n = n + 1
  local address = addresses == 1 and "192.0.2.66" or string.format("198.51.%d.%d", 100 + math.floor(i / 250), 1 + i % 250)
  return wrk.format("POST", "/api/v1/donations",
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = address}, body)
end

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

function delay()
  return pause
end
