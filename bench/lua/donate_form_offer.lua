-- A one-off gift through the no-JavaScript form as a donor makes it with the monthly offer on (the
-- default, issue 14): POST /donate/<slug> (303 to our offer page), GET it (200), press
-- "No thanks, give once" (POST to the same .../choose/<token>, 303 to Stripe Checkout). Three requests per
-- donation; a donation counts once its answer is the 303 to Checkout.
--
-- wrk gives a thread one Lua state for all its connections and no connection identity, so the
-- next step of a donation is queued and sent by whichever connection asks next: the steps carry
-- their state in the URL (the offer's signed token), as a donor's browser would.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
dofile(os.getenv("BENCH_LUA_DIR") .. "/donors.lua")
local count_response = response
local report_setup = setup
local report_done = done
local offer_threads = {}
local thread_tag = ""
local n = 0
local next_steps = {}
donations = 0
lost = 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  thread_tag = string.format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

local function path_of(location)
  return location:match("^https?://[^/]+(/.*)$") or location
end

function request()
  local step = table.remove(next_steps)
  if step then
    return step
  end
  n = n + 1
  local body = "form_token=bench" .. thread_tag .. string.format("%010d", n) ..
    "&currency=gbp&frequency=one_off&amount_choice=2500"
  return wrk.format("POST", "/donate/red-cross-ukraine?lang=en",
    {["Content-Type"] = "application/x-www-form-urlencoded", ["X-Forwarded-For"] = next_donor()}, body)
end

function response(status, headers, body)
  local location = headers["Location"] or headers["location"]
  if status == 303 and location and location:find("/choose/", 1, true) then
    table.insert(next_steps, wrk.format("GET", path_of(location), {["X-Forwarded-For"] = next_donor()}))
  elseif status == 200 and body then
    local action = body:match('action="([^"]*/choose/[^"]*)"')
    if action then
      table.insert(next_steps, wrk.format("POST", path_of(action:gsub("&amp;", "&")),
        {["Content-Type"] = "application/x-www-form-urlencoded", ["X-Forwarded-For"] = next_donor()},
        "choice=once"))
    else
      lost = lost + 1
    end
  elseif status == 303 and location then
    donations = donations + 1  -- to Stripe Checkout (or the appeal's Payment Link in a surge)
  else
    lost = lost + 1
  end
  count_response(status, headers, body)
end

function setup(thread)
  report_setup(thread)
  table.insert(offer_threads, thread)
end

function done(summary, latency, requests)
  report_done(summary, latency, requests)
  local total, stopped = 0, 0
  for _, t in ipairs(offer_threads) do
    total = total + (t:get("donations") or 0)
    stopped = stopped + (t:get("lost") or 0)
  end
  io.write(string.format('BENCH_DONATIONS {"donations": %d, "lost": %d}\n', total, stopped))
end
