-- wrk script of the benchmark: one fixed request, and a JSON summary line at the end.
-- WRK_METHOD, WRK_BODY_FILE (optional) and WRK_HEADERS ("Name: value" lines) come from
-- the environment, so the same script serves the mock, the gateway and LiteLLM.

wrk.method = os.getenv("WRK_METHOD") or "POST"
local body_file = os.getenv("WRK_BODY_FILE")
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end
for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end

-- Status codes per thread (each wrk thread has its own Lua state), gathered in done().
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do counts[status] = (counts[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(counts) do table.insert(parts, string.format('"%d": %d', status, n)) end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
    .. '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_status": %d, "errors_timeout": %d, '
    .. '"latency_p50_us": %d, "latency_p90_us": %d, "latency_p99_us": %d, "latency_p999_us": %d, '
    .. '"latency_mean_us": %.1f, "latency_max_us": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max, table.concat(parts, ", ")))
end
