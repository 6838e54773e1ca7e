-- wrk script: plain GET (with $SOAP_COOKIE when set), prints the same summary line as soap_post.lua.
local cookie = os.getenv("SOAP_COOKIE")
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH rps=%.1f p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
