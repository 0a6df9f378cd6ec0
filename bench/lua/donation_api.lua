-- POST /api/v1/donations with a JSON body; every request is a new donation.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.path = "/api/v1/donations"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp", "frequency": "one_off", ' ..
  '"source": {"utm_source": "bench"}}'
