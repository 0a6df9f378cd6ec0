-- GET the public progress endpoint (cached per worker for PROGRESS_CACHE_SECONDS).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
wrk.path = "/api/v1/appeals/red-cross-ukraine/progress"
