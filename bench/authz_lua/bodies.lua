-- POST JSON bodies read from a file (one per line), taken in turn from a random first one.
--   wrk ... -s bodies.lua URL -- <access token> <bodies file> <seed>
local bodies = {}
local following = 1

init = function(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "truapi-bench"
  for line in io.lines(args[2]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  math.randomseed(tonumber(args[3]))
  following = math.random(#bodies)
end

request = function()
  local body = bodies[following]
  following = following % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end
