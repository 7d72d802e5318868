-- GET of a fixed path (the first script argument): the framework's ceiling, no database.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "report.lua")

function init(args)
   path = args[1]
end

function request()
   sent = sent + 1
   return wrk.format("GET", path)
end
