-- bench/send-wrk.lua - wrk script of bench/send.sh: POST /api/send/message
-- cycling over our devices, each sending a text to its peer (another of our
-- devices).  wrk -s bench/send-wrk.lua URL -- PAIRS TOKEN RATE TAG
--   PAIRS: file, one "deviceHash peerPhone" a line
--   TOKEN: Bearer JWT
--   RATE:  requests/s of the whole run (split over the threads); 0 = as fast
--          as the connections go (closed loop)
--   TAG:   text prefix of the messages
-- Rate-limited: each thread hands out send slots 1/rate apart to whichever
-- of its connections asks (delay()); a slot missed is not made up later
-- (no burst), so a rate below the target shows as such in the output.
-- Prints one line: RESULT req/s mean_ms p50_ms p99_ms requests errors
-- accepted/s (errors: non-2xx/3xx answers + socket errors).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int, bench_timespec *);
]]
local tsbuf = ffi.new("bench_timespec")
local function now_ms()
	ffi.C.clock_gettime(1, tsbuf)	-- CLOCK_MONOTONIC
	return tonumber(tsbuf.tv_sec) * 1000 + tonumber(tsbuf.tv_nsec) / 1e6
end

local threads = {}
local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("thread_no", nthreads)
	table.insert(threads, thread)
end

local reqs = {}
local nreq = 0
local idx = 0
local interval = 0	-- ms between this thread's sends; 0: no limit
local next_at = nil

function init(args)
	local pairs_file, token, rate, tag = args[1], args[2],
	    tonumber(args[3] or "0"), args[4] or "bench"
	local nth = tonumber(os.getenv("SEND_WRK_THREADS") or "1")
	local n = 0
	for line in io.lines(pairs_file) do
		local h, phone = line:match("^(%x+)%s+(%d+)")
		if h then
			n = n + 1
			local body = string.format(
			    '{"phone":"%s","message":"%s %s %d"}', phone, tag,
			    h, n)
			reqs[n] = wrk.format("POST", "/api/send/message", {
				["Authorization"] = "Bearer " .. token,
				["deviceHash"] = h,
				["Content-Type"] = "application/json",
			}, body)
		end
	end
	nreq = n
	-- threads start at different devices
	idx = ((thread_no or 1) - 1) * math.floor(n / nth)
	if rate and rate > 0 then
		interval = 1000.0 * nth / rate
	end
end

function request()
	idx = idx % nreq + 1
	return reqs[idx]
end

if os.getenv("SEND_WRK_RATE") == "1" then
	function delay()
		local t = now_ms()
		if next_at == nil or next_at < t then
			next_at = t
		end
		local d = next_at - t
		next_at = next_at + interval
		return math.floor(d + 0.5)
	end
end

function done(summary, latency, requests)
	local errs = summary.errors.status + summary.errors.connect +
	    summary.errors.read + summary.errors.write + summary.errors.timeout
	local secs = summary.duration / 1e6
	io.write(string.format("RESULT %.0f %.2f %.2f %.2f %d %d %.0f\n",
	    summary.requests / secs, latency.mean / 1000,
	    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
	    summary.requests, errs, (summary.requests - errs) / secs))
end
