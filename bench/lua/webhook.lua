-- POST /webhooks/stripe with pre-signed checkout.session.completed events (bench/run.py writes
-- them: one "signature<TAB>body" line each, every event for a different existing donation).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
local events = {}
local index = 0
local stride = 1

function init(args)
  local path = os.getenv("BENCH_EVENTS_FILE")
  stride = tonumber(os.getenv("BENCH_THREADS") or "1")
  local i = 0
  for line in io.lines(path) do
    -- Each thread takes every stride-th event, so no two threads send the same one.
    if i % stride == thread_no then
      local tab = line:find("\t", 1, true)
      table.insert(events, {line:sub(1, tab - 1), line:sub(tab + 1)})
    end
    i = i + 1
  end
end

function request()
  index = index + 1
  local e = events[((index - 1) % #events) + 1]
  return wrk.format("POST", "/webhooks/stripe",
    {["Content-Type"] = "application/json", ["Stripe-Signature"] = e[1]}, e[2])
end
