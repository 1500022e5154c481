-- POST /auth/refresh, each refresh token used exactly once, as clients do: the refresh token
-- of every 200 answer goes to the back of a queue, and each request takes the token at its
-- front. The queue starts with the tokens in the file given as the first argument (one per
-- line, each of another session); with at least one token per connection it never runs dry,
-- since every answered request puts one back before its connection asks for the next.
-- A request finding the queue empty sends a token that cannot be valid, so the shortfall
-- shows up as a non-2xx answer instead of a reused token. Needs one wrk thread (-t1): each
-- thread has its own copy of the queue.
--   wrk -t1 ... -s refresh_chain.lua URL -- <token file>
local queue, head, tail = {}, 1, 0

local function push(token)
  tail = tail + 1
  queue[tail] = token
end

init = function(args)
  for line in io.lines(args[1]) do
    if #line > 0 then push(line) end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "truapi-bench"
end

request = function()
  local token = "trt_queue_ran_dry"
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end

response = function(status, headers, body)
  if status == 200 then
    local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if token then push(token) end
  end
end
