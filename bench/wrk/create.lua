-- POST /v2/images: a small image with one tag and one property, a distinct name per request.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

function request()
   sent = sent + 1
   local body = string.format(
      '{"name": "bench-%d-%d", "disk_format": "raw", "container_format": "bare", ' ..
      '"tags": ["bench"], "os_distro": "ubuntu"}', tid, sent)
   -- Headers given to wrk.format replace wrk's own (-H on the command line): keep those.
   local headers = {["Content-Type"] = "application/json"}
   for name, value in pairs(wrk.headers) do
      headers[name] = value
   end
   return wrk.format("POST", "/v2/images", headers, body)
end
