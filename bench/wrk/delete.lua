-- DELETE /v2/images/{id}: each id of the file (first script argument) once, the ids dealt out
-- among the threads (the second argument is the number of threads). A thread that runs out stops;
-- its last request is a harmless GET /healthcheck (a 200, not counted as a delete). bench/metadata.py
-- gives it more images than it can delete in the time, so that no thread stops early.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

ids = {}
next_index = 1

function init(args)
   local nthreads = tonumber(args[2])
   local i = 0
   for line in io.lines(args[1]) do
      if i % nthreads == tid - 1 then
         table.insert(ids, line)
      end
      i = i + 1
   end
end

function request()
   if next_index > #ids then
      wrk.thread:stop()
      return wrk.format("GET", "/healthcheck")
   end
   local id = ids[next_index]
   next_index = next_index + 1
   sent = sent + 1
   return wrk.format("DELETE", "/v2/images/" .. id)
end
