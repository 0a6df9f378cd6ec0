-- POST /api/v1/donations from 10,000 distinct donors behind one trusted proxy: each request
-- carries the donor's address in X-Forwarded-For, a different /24 for each donor (viewers across
-- a country), taken in turn so that no donor gives more than a few times a minute.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
local donors = tonumber(os.getenv("BENCH_DONORS") or "10000")
local n = 0
local body = '{"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp", "frequency": "one_off", ' ..
  '"source": {"utm_source": "telethon"}}'

function request()
  local i = (n * tonumber(os.getenv("BENCH_THREADS") or "1") + thread_no) % donors
  n = n + 1
  local address = string.format("%d.%d.%d.%d", 20 + math.floor(i / 65536), math.floor(i / 256) % 256, i % 256, 7 + i % 200)
  return wrk.format("POST", "/api/v1/donations",
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = address}, body)
end
