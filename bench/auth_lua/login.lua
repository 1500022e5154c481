-- POST /auth/login with a JSON body; every request is the same successful login.
--   wrk ... -s login.lua URL -- <username> <password>   (plain ASCII, no quotes)
init = function(args)
  wrk.method = "POST"
  wrk.body = '{"username":"' .. args[1] .. '","password":"' .. args[2] .. '"}'
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "truapi-bench"
end
