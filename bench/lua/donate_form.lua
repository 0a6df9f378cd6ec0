-- POST /donate/<slug>?lang=en as the donate page's form does (its action names the page's
-- language), with a fresh form_token per request
-- (the token is the form's idempotency key: a repeated one would answer from the first donation),
-- from the donors of donors.lua.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
dofile(os.getenv("BENCH_LUA_DIR") .. "/donors.lua")
local thread_tag = ""
local n = 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  thread_tag = string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

function request()
  n = n + 1
  local body = "form_token=bench" .. thread_tag .. string.format("%010d", n) ..
    "&currency=gbp&frequency=one_off&amount_choice=2500"
  return wrk.format("POST", "/donate/red-cross-ukraine?lang=en",
    {["Content-Type"] = "application/x-www-form-urlencoded", ["X-Forwarded-For"] = next_donor()}, body)
end
