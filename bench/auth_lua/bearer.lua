-- GET the URL's path with an access token:  wrk ... -s bearer.lua URL -- <access token>
init = function(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["User-Agent"] = "truapi-bench"
end
