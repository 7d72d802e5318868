-- Shared by the wrk scripts of bench/metadata.py. Every thread counts, in globals that done()
-- reads back, the requests it made (`sent`), the answers that are not 2xx (`non2xx`) and the 204s
-- (`ok204`, the successful deletes); done() prints one line of JSON for the Python side.
threads = {}
non2xx = 0
ok204 = 0
sent = 0

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   elseif status == 204 then
      ok204 = ok204 + 1
   end
end

function done(summary, latency, requests)
   local bad, issued, deleted = 0, 0, 0
   for _, t in ipairs(threads) do
      bad = bad + t:get("non2xx")
      issued = issued + t:get("sent")
      deleted = deleted + t:get("ok204")
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests": %d, "sent": %d, "duration_us": %d, "non2xx": %d, "ok204": %d, "connect": %d, ' ..
      '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
      summary.requests, issued, summary.duration, bad, deleted, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
end
