-- Cycles through pre-generated requests, one distinct token per request, and checks every
-- answer. Usage:
--   wrk -t1 -c64 -d10s --latency -s bench/wrk/requests.lua URL -- FILE KIND [START]
-- FILE: one request a line, `path<TAB>host<TAB>user-agent<TAB>x-forwarded-for`.
-- KIND: `click` (expects 302 with a Location to a job page) or `open` (200 image/gif, 43 bytes).
-- START: the line to begin with (0-based); the harness starts a measured run where its warm-up
-- stopped (done() prints `cursor`), so that the warm-up does not replay the run's tokens.
-- done() prints `@@ key=value` lines that bench/edge.py parses.

local ACCEPT = {
  click = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
  open = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
}

-- Per-thread state; globals so that done() can read them through thread:get().
requests_built = {}
count = 0
cursor = 0
sent = 0
ok = 0
unexpected_status = 0
fallback = 0
bad_body = 0
kind = "click"
thread_index = 1

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", #threads)
end

local function build(path, host, agent, forwarded)
  return wrk.format("GET", path, {
    ["Host"] = host,
    ["User-Agent"] = agent,
    ["X-Forwarded-For"] = forwarded,
    ["Accept"] = ACCEPT[kind],
    ["Accept-Language"] = "en-US,en;q=0.9",
    ["Accept-Encoding"] = "gzip, deflate, br",
  })
end

function init(args)
  local file = args[1]
  kind = args[2] or "click"
  for line in io.lines(file) do
    local path, host, agent, forwarded = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
    if path then
      count = count + 1
      requests_built[count] = build(path, host, agent, forwarded)
    end
  end
  if count == 0 then
    error("no requests in " .. tostring(file))
  end
  -- Threads start at different offsets so that they do not send the same tokens together.
  local start = tonumber(args[3] or "0") or 0
  cursor = math.floor(start + (thread_index - 1) * count / 16) % count
end

function request()
  cursor = cursor % count + 1
  sent = sent + 1
  return requests_built[cursor]
end

local function header(headers, name)
  return headers[name] or headers[name:lower()]
end

local function check_click(status, headers)
  if status ~= 302 then
    unexpected_status = unexpected_status + 1
    return
  end
  local location = header(headers, "Location") or ""
  -- A bad token still gets a 302, to the brand's landing page: count it apart.
  if not location:find("/jobs/", 1, true) then
    fallback = fallback + 1
    return
  end
  ok = ok + 1
end

local function check_open(status, headers, body)
  if status ~= 200 then
    unexpected_status = unexpected_status + 1
    return
  end
  local content_type = header(headers, "Content-Type") or ""
  if content_type ~= "image/gif" or #body ~= 43 then
    bad_body = bad_body + 1
    return
  end
  ok = ok + 1
end

function response(status, headers, body)
  if kind == "open" then
    check_open(status, headers, body)
  else
    check_click(status, headers)
  end
end

local function total(name)
  local sum = 0
  for _, thread in ipairs(threads) do
    sum = sum + (thread:get(name) or 0)
  end
  return sum
end

function done(summary, latency, requests)
  local out = {
    requests = summary.requests,
    duration_us = summary.duration,
    bytes = summary.bytes,
    errors_connect = summary.errors.connect,
    errors_read = summary.errors.read,
    errors_write = summary.errors.write,
    errors_timeout = summary.errors.timeout,
    errors_status = summary.errors.status,
    latency_mean_us = latency.mean,
    latency_max_us = latency.max,
    p50_us = latency:percentile(50),
    p90_us = latency:percentile(90),
    p99_us = latency:percentile(99),
    p999_us = latency:percentile(99.9),
    sent = total("sent"),
    ok = total("ok"),
    unexpected_status = total("unexpected_status"),
    fallback = total("fallback"),
    bad_body = total("bad_body"),
    distinct_requests = threads[1]:get("count"),
    cursor = threads[1]:get("cursor"),
  }
  for key, value in pairs(out) do
    io.write(string.format("@@ %s=%s\n", key, tostring(value)))
  end
end
