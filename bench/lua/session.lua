-- POST /session on the minimal create-session baseline (bench/baseline_app.py).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.path = "/session"
