-- POST /auth/introspect as an administrator (RFC 7662 form body).
--   wrk ... -s introspect.lua URL -- <admin access token> <token to introspect>
init = function(args)
  wrk.method = "POST"
  wrk.body = "token=" .. args[2]
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["User-Agent"] = "truapi-bench"
end
