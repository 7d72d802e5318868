-- GET /v2/images/{id}, ids picked at random from the file given as the first script argument.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

ids = {}

function init(args)
   for line in io.lines(args[1]) do
      table.insert(ids, line)
   end
   math.randomseed(tid * 7919)
end

function request()
   sent = sent + 1
   return wrk.format("GET", "/v2/images/" .. ids[math.random(#ids)])
end
