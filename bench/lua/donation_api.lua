-- POST /api/v1/donations with a JSON body; every request is a new donation, from one of
-- BENCH_DONORS (10,000) donors behind one trusted proxy: each request carries the donor's
-- address in X-Forwarded-For, a different /24 for each donor (viewers across a country), taken
-- in turn so that no donor gives more than a few times a minute and the production limits apply.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
dofile(os.getenv("BENCH_LUA_DIR") .. "/donors.lua")
local source = os.getenv("BENCH_UTM_SOURCE") or "bench"
local body = '{"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp", "frequency": "one_off", ' ..
  '"source": {"utm_source": "' .. source .. '"}}'

function request()
  return wrk.format("POST", "/api/v1/donations",
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = next_donor()}, body)
end
