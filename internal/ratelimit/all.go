package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rule is one limit on one key, for AllowAll.
type Rule struct {
	Key   string
	Limit Limit
}

// allowAll is GCRA, as redis_rate's, over several keys in one round trip:
// the event is allowed only if every key allows it, and only then is every
// key charged. The theoretical arrival time is stored under the same keys
// and in the same form (seconds since 2017 as a float) as redis_rate's, so
// Allow and AllowAll share budgets.
var allowAll = redis.NewScript(`
local t = redis.call("TIME")
local now = (t[1] - 1483228800) + (t[2] / 1000000)
local tats = {}
local wait = 0
for i = 1, #KEYS do
  local burst, rate, period = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  local interval = period / rate
  local tat = math.max(tonumber(redis.call("GET", KEYS[i])) or now, now)
  local new_tat = tat + interval
  local diff = now - (new_tat - interval * burst)
  if diff < 0 and -diff > wait then
    wait = -diff
  end
  tats[i] = new_tat
end
if wait > 0 then
  return {0, tostring(wait)}
end
for i = 1, #KEYS do
  redis.call("SET", KEYS[i], tats[i], "EX", math.ceil(tats[i] - now))
end
return {1, "0"}
`)

// AllowAll takes one event under every rule's key, in one Redis round
// trip, if all of them allow it; when one refuses, none is charged and
// retryAfter is the longest wait. As Allow, a Redis outage lets the event
// through and returns the error for the caller to log.
func (l *Limiter) AllowAll(ctx context.Context, rules ...Rule) (ok bool, retryAfter time.Duration, err error) {
	if len(rules) == 0 {
		return true, 0, nil
	}
	keys := make([]string, len(rules))
	args := make([]any, 0, 3*len(rules))
	for i, r := range rules {
		if r.Limit.Rate <= 0 || r.Limit.Burst <= 0 || r.Limit.Period <= 0 {
			return true, 0, fmt.Errorf("rate limit %q: rate, burst and period must be positive", r.Key)
		}
		keys[i] = "rate:" + l.prefix + r.Key // redis_rate's own key prefix, so Allow sees the same state
		args = append(args, r.Limit.Burst, r.Limit.Rate, r.Limit.Period.Seconds())
	}
	v, err := allowAll.Run(ctx, l.rdb, keys, args...).Slice()
	if err != nil {
		return true, 0, fmt.Errorf("rate limit: %w", err)
	}
	if len(v) != 2 {
		return true, 0, fmt.Errorf("rate limit: unexpected reply %v", v)
	}
	allowed, _ := v[0].(int64)
	wait, _ := v[1].(string)
	secs, err := strconv.ParseFloat(wait, 64)
	if err != nil {
		return true, 0, fmt.Errorf("rate limit: retry after %q: %w", wait, err)
	}
	return allowed == 1, time.Duration(secs * float64(time.Second)), nil
}
