-- GET /hello on the bare Flask baseline (bench/baseline_app.py).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
wrk.path = "/hello"
